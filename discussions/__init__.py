"""Discussions (issue 26, item 5): django-comments-xtd threads on competitions, their entries and maps, under the
site's moderation policy (moderation.py) and visibility rules (targets.py)."""
