"""Checking what users send before anything is stored or queued: uploaded Sentinel-2 files."""
