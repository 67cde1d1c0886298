"""The autouse fixture of every Django test package (its conftest imports it): an empty cache and
private storage folders per test, one for each kind of stored result in the product registry (and for benchmarks,
submissions and legends, which are not products: nothing of them is served as a map)."""
from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.core.cache import cache, caches


@pytest.fixture(autouse=True)
def isolated_cache_and_storage(tmp_path):
    """Cached API answers and rate-limit counters: each test starts from zero, and with its own folder for every
    registered product (maps, uploads, areas, changes, exports, …), also for worker processes it starts."""
    from landcover.jobs import products

    cache.clear()
    caches["ratelimit"].clear()
    caches["tiles"].clear()
    saved = {}
    folders = [(p.root_setting, f"HRMARS_{p.root_setting}", p.prefix) for p in products.registered()]
    folders += [(name, f"HRMARS_{name}", name.split("_")[0].lower()) for name in ("BENCHMARKS_DIR", "SUBMISSIONS_DIR",
                                                                                       "LEGENDS_DIR")]
    for setting, env, folder in folders:
        saved[setting] = (getattr(settings, setting), os.environ.get(env))
        setattr(settings, setting, tmp_path / folder)
        os.environ[env] = str(tmp_path / folder)  # for worker processes the test starts
    yield
    for setting, env, _ in folders:
        value, env_value = saved[setting]
        setattr(settings, setting, value)
        if env_value is None:
            os.environ.pop(env, None)
        else:
            os.environ[env] = env_value
