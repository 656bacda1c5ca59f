"""API keys: creation, hashing, lookup and the bootstrap key."""
