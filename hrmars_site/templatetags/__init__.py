"""Template tags of the site: `markup` (users' Markdown, sanitised)."""
