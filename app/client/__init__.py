"""A typed Python client of the Secateur API (httpx, sync); the CLI and the tests use it."""

from app.client.client import DEFAULT_URL, SecateurClient
from app.client.errors import ApiError

__all__ = ["DEFAULT_URL", "ApiError", "SecateurClient"]
