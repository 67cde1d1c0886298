"""Long-running work and what it stores: one lifecycle (`lifecycle`) for every job, one registry of the kinds
of stored result (`products`), and one module per kind (`maps`, `areas`, `uploads`, `change`, `exports`), each
holding its build function, its `JobKind` and its `Product`. Celery tasks in `landcover.tasks` are thin
wrappers that run a kind's job; job code queues them by task name."""
