"""Refuse an upload whose Content-Length is already over the limit, before reading any of its body.

Only a shortcut: the streaming parser (upload_stream.py) enforces the limit on the bytes themselves,
whatever the framing (chunked bodies have no Content-Length).
"""

from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.http import scope_settings
from app.core.problems import FileTooLarge
from app.files.upload_stream import FRAMING_BYTES as _FRAMING_BYTES


class UploadLimitMiddleware:
    """A pure ASGI middleware: 413 for POST /v1/files whose declared length exceeds every limit."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap the next ASGI app."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 413 early for an oversized declared upload, else pass the request on."""
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].rstrip("/") == "/v1/files":
            settings = scope_settings(scope)
            limit = max(settings.max_model_upload_bytes, settings.max_dataset_upload_bytes)
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > limit + _FRAMING_BYTES:
                # Connection: close (the kind's default): the unread body makes the connection unusable.
                response = FileTooLarge(f"An upload may be at most {limit} bytes.").response()
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
