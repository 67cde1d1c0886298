"""Accounts: sign-up, log-in, profile, password change and reset, and API tokens."""
