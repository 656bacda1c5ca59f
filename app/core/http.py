"""ASGI middleware for what the server itself does not bound: body read time, and HEAD on GET routes."""

from collections.abc import Callable

import anyio
from fastapi import FastAPI
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.problems import BodyTimeout
from secateur.kernel.settings import Settings, get_settings


def scope_settings(scope: Scope) -> Settings:
    """The settings of the app serving `scope`, honouring a test's dependency override."""
    app = scope.get("app")
    provider: Callable[[], Settings] = get_settings
    if isinstance(app, FastAPI):
        provider = app.dependency_overrides.get(get_settings, get_settings)
    return provider()


class BodyTimeoutMiddleware:
    """408 when a request body stalls: each chunk must arrive within `body_read_timeout_s` of the last.

    uvicorn bounds idle keep-alive connections but not a body that trickles in or stops; without
    this, a client that declares a large body and sends nothing holds a connection and a worker.
    """

    def __init__(self, app: ASGIApp) -> None:
        """Wrap the next ASGI app."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with a `receive` that gives up on a stalled body."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = {"started": False, "timed_out": False}
        timeout_s = scope_settings(scope).body_read_timeout_s

        async def timed_receive() -> Message:
            with anyio.move_on_after(timeout_s) as deadline:
                return await receive()
            assert deadline.cancel_called
            state["timed_out"] = True
            # The app sees a disconnect and stops reading; the 408 below is what the client gets.
            return {"type": "http.disconnect"}

        async def guarded_send(message: Message) -> None:
            if state["timed_out"]:
                return  # the app's own answer to the "disconnect" is dropped for the 408
            state["started"] = state["started"] or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, timed_receive, guarded_send)
        except Exception:
            if not state["timed_out"]:
                raise
        if state["timed_out"] and not state["started"]:
            response = BodyTimeout(f"The request body stopped arriving for {timeout_s:g} s.").response()
            await response(scope, receive, send)


class HeadAsGetMiddleware:
    """Answer HEAD on a GET route like GET without a body (FastAPI routes answer 405 otherwise)."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap the next ASGI app."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run HEAD as GET unless a route handles HEAD itself, and send only the headers."""
        if scope["type"] != "http" or scope["method"] != "HEAD" or self._has_head_route(scope):
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)

    @staticmethod
    def _has_head_route(scope: Scope) -> bool:
        """Whether some route answers HEAD for this path itself (the artifact download does)."""
        routes = getattr(scope.get("app"), "routes", None) or []
        return any(route.matches(scope)[0] == Match.FULL for route in routes)
