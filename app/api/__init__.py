"""HTTP plumbing shared by the routers: dependencies and cross-cutting routes."""
