"""A visitor's message: contact or feedback (with a rating), and whether staff have read it."""
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class Message(models.Model):
    """A contact or feedback message from a visitor, moderated in the admin."""

    class Kind(models.TextChoices):
        CONTACT = "contact", "Contact"
        FEEDBACK = "feedback", "Feedback"

    kind = models.CharField(max_length=10, choices=Kind.choices, db_index=True)
    name = models.CharField(max_length=100, blank=True)
    email = models.EmailField(blank=True)
    subject = models.CharField(max_length=150, blank=True)
    body = models.TextField("message", max_length=5000)
    rating = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)], help_text="1 (poor) to 5 (great)"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    client_ip = models.GenericIPAddressField(null=True, blank=True, help_text="Kept for spam handling.")
    user_agent = models.CharField(max_length=300, blank=True)
    is_read = models.BooleanField("read", default=False, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        title = self.subject or self.body[:60]
        return f"{self.get_kind_display()}: {title}"
