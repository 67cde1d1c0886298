"""A Django cache backend for counters only, kept in the site's database, atomic under concurrency.

django-ratelimit counts with `cache.add(key, 1, timeout)` then `cache.incr(key)`. Redis does both
atomically, but the embedded mode has no Redis, and its file cache neither counts atomically (20
concurrent posts let 7 of 5 through) nor keeps counters safe from eviction (anonymous requests with
unique query strings filled it and reset every limit). This backend is `CACHES["ratelimit"]` there:
each operation is one SQL statement on a table of its own (`hrmars_site.RateCounter`), so SQLite
and PostgreSQL serialise them, and nothing but rate limits writes to it. It stores integers only.
"""
from __future__ import annotations

import random
import time
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
from django.db import connection

from .models import RateCounter

TABLE = RateCounter._meta.db_table
FOREVER = 1e18  # expiry of a counter stored without a timeout


class CounterCache(BaseCache):
    """Integer counters in the database; `add`, `incr`, `get`, `set`, `delete` and `clear` are atomic."""

    def __init__(self, location: str, params: dict) -> None:
        super().__init__(params)

    def _expiry(self, timeout: Any) -> float:
        timeout = self.get_backend_timeout(timeout)
        return FOREVER if timeout is None else float(timeout)

    @staticmethod
    def _int(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"the counter store keeps integers only, not {type(value).__name__}")
        return value

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        """Store `value` unless a live counter is there: True when stored (one statement, so exactly one of
        several concurrent adds wins)."""
        key = self.make_and_validate_key(key, version)
        now = time.time()
        with connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {TABLE} (key, value, expires) VALUES (%s, %s, %s) "
                           f"ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires "
                           f"WHERE {TABLE}.expires <= %s", [key, self._int(value), self._expiry(timeout), now])
            added = cursor.rowcount == 1
        if added and random.random() < 0.02:  # now and then, forget counters that have expired
            RateCounter.objects.filter(expires__lte=now).delete()
        return added

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        """Add `delta` to a live counter and return the new value; ValueError if there is none."""
        key = self.make_and_validate_key(key, version)
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {TABLE} SET value = value + %s WHERE key = %s AND expires > %s RETURNING value",
                           [self._int(delta), key, time.time()])
            row = cursor.fetchone()
        if row is None:
            raise ValueError(f"Key '{key}' not found")
        return int(row[0])

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        key = self.make_and_validate_key(key, version)
        row = RateCounter.objects.filter(key=key, expires__gt=time.time()).values_list("value", flat=True).first()
        return default if row is None else row

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        key = self.make_and_validate_key(key, version)
        with connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {TABLE} (key, value, expires) VALUES (%s, %s, %s) ON CONFLICT (key) DO "
                           f"UPDATE SET value = excluded.value, expires = excluded.expires",
                           [key, self._int(value), self._expiry(timeout)])

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version)
        return bool(RateCounter.objects.filter(key=key, expires__gt=time.time()).update(expires=self._expiry(timeout)))

    def delete(self, key: Any, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version)
        deleted, _ = RateCounter.objects.filter(key=key).delete()
        return bool(deleted)

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return self.get(key, version=version) is not None

    def clear(self) -> None:
        RateCounter.objects.all().delete()
