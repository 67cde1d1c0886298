"""The catalogue version: part of the key of every cached catalogue answer, bumped whenever the
catalogue or the models change, so cached answers are never stale and need no invalidation list."""
from __future__ import annotations

from django.core.cache import cache

KEY = "catalogue-version"


def catalogue_version() -> int:
    """The current version (1 on a fresh cache)."""
    return int(cache.get_or_set(KEY, 1, timeout=None) or 1)


def bump_catalogue_version() -> None:
    """Make every cached catalogue answer stale."""
    try:
        cache.incr(KEY)
    except ValueError:
        cache.set(KEY, 2, timeout=None)
