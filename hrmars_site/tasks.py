"""Health task: proves a worker is consuming the queue and reaching the database."""
from __future__ import annotations

import socket
from datetime import UTC, datetime

from celery import shared_task
from django.db import connection


@shared_task(name="hrmars.ping")
def ping() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        db_ok = cursor.fetchone()[0] == 1
    return {
        "pong": True,
        "worker": socket.gethostname(),
        "database": db_ok,
        "vendor": connection.vendor,
        "at": datetime.now(UTC).isoformat(),
    }
