"""Catalogue commands: ingestion, model registration, demo data."""
