"""The autouse fixture of every Django test package (its conftest imports it): an empty cache and
private storage folders per test."""
from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.core.cache import cache, caches


@pytest.fixture(autouse=True)
def isolated_cache_and_storage(tmp_path):
    """Cached API answers and rate-limit counters: each test starts from zero,
    and with its own folders of stored maps and uploads (also for worker processes it starts)."""
    cache.clear()
    caches["ratelimit"].clear()
    caches["tiles"].clear()
    tmp = tmp_path
    saved = {}
    folders = (("MAPS_DIR", "HRMARS_MAPS_DIR", "maps"), ("UPLOADS_DIR", "HRMARS_UPLOADS_DIR", "uploads"),
               ("AREAS_DIR", "HRMARS_AREAS_DIR", "areas"), ("CHANGES_DIR", "HRMARS_CHANGES_DIR", "changes"))
    for setting, env, folder in folders:
        saved[setting] = (getattr(settings, setting), os.environ.get(env))
        setattr(settings, setting, tmp / folder)
        os.environ[env] = str(tmp / folder)  # for worker processes the test starts
    yield
    for setting, env, _ in folders:
        value, env_value = saved[setting]
        setattr(settings, setting, value)
        if env_value is None:
            os.environ.pop(env, None)
        else:
            os.environ[env] = env_value
