"""Management commands of the landcover app."""
