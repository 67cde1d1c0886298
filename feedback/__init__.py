"""Contact and feedback messages from visitors, moderated in the admin."""
