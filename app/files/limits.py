"""Refuse oversized uploads from their Content-Length, before the multipart body is spooled to disk."""

from collections.abc import Callable

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.config import Settings, get_settings
from app.core.errors import problem_response, problem_type

# Multipart framing (boundaries, part headers, the purpose field) on top of the file itself.
_FRAMING_BYTES = 64 * 1024


class UploadLimitMiddleware:
    """A pure ASGI middleware: 413 for POST /v1/files whose declared length exceeds every limit."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap the next ASGI app."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 413 early for an oversized declared upload, else pass the request on."""
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].rstrip("/") == "/v1/files":
            limit = self._limit(scope)
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > limit + _FRAMING_BYTES:
                response = problem_response(
                    413,
                    f"An upload may be at most {limit} bytes.",
                    type_=problem_type("file-too-large"),
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    def _limit(scope: Scope) -> int:
        """The larger of the two upload limits (the purpose is not known before the body is parsed)."""
        app = scope.get("app")
        provider: Callable[[], Settings] = get_settings
        if isinstance(app, FastAPI):
            provider = app.dependency_overrides.get(get_settings, get_settings)
        settings = provider()
        return max(settings.max_model_upload_bytes, settings.max_dataset_upload_bytes)
