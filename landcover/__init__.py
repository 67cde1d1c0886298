"""Land cover on the site: the catalogue (datasets, patches, models), jobs that compute maps and map
uploads, validation of what users send, the REST API and the pages. Layers run one way:
api/web/admin/commands/tasks → jobs → catalogue, validation → models (docs/ARCHITECTURE.md)."""
