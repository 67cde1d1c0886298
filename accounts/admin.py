"""Accounts in the admin: Django's User admin and DRF's token admin serve as they are."""
