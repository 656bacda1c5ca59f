"""The kernel both rooms share: words, settings, database, job lifecycle, storage; no torch, no web server."""
