"""A job's SQL and its public JSON shape, shared by the API and the worker."""
