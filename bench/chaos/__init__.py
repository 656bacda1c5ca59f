"""`make chaos`: crash, hang and starve the service on purpose, and record what became of the jobs."""
