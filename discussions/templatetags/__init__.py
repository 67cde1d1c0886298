"""Template tags of the discussions."""
