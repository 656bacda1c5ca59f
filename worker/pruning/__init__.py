"""The pruning engine: AGLP and its baselines, free of Celery, SQL and HTTP."""
