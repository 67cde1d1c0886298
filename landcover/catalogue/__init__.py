"""The catalogue: datasets, scenes and patches with their footprints (ingestion), the registered
models (registry), the version that keys every cached catalogue answer, and the demo data."""
