"""The kernel both rooms share: words, settings, database, job lifecycle and storage; no torch, no HTTP."""
