"""Routes that belong to no domain folder (health probes)."""
