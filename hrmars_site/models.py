"""Rate-limit counters kept in the database (see hrmars_site.counters): a table nothing else writes,
so no other use of a cache can evict them."""
from django.db import models


class RateCounter(models.Model):
    key = models.CharField(max_length=250, primary_key=True)
    value = models.BigIntegerField()
    expires = models.FloatField(db_index=True, help_text="Unix time after which the counter no longer counts")

    class Meta:
        db_table = "hrmars_rate_counter"

    def __str__(self) -> str:
        return f"{self.key} = {self.value}"
