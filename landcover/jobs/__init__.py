"""Long-running work: one lifecycle (`lifecycle`) and one module per job kind (`maps`, `uploads`).
Celery tasks in `landcover.tasks` are thin wrappers that run a kind's job; job code queues
them by task name."""
