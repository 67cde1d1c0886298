"""Django tests: an empty cache and private storage folders per test."""
from tests.isolation import isolated_cache_and_storage  # noqa: F401  (autouse: registered by this import)
