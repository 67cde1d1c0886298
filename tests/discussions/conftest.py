"""Fixtures of the discussions tests: the landcover tests' isolation (cache, rate counters, folders)."""
from tests.isolation import isolated_cache_and_storage  # noqa: F401  (autouse: registered by this import)
