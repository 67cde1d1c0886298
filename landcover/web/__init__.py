"""The server-rendered pages of the app: the map page and the uploads page (their data come from the API)."""
