"""The one exception the client raises: an RFC 9457 problem, from the API or about the transfer."""

from typing import Any

import httpx

PROBLEM_PREFIX = "urn:secateur:problem:"


class ApiError(Exception):
    """A problem+json answer (or a client-side problem in the same shape): type, title, status, detail."""

    def __init__(
        self,
        *,
        problem_type: str = "about:blank",
        title: str,
        status: int | None,
        detail: str = "",
        errors: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Keep every member of the problem; `status` is None when no HTTP answer came back."""
        super().__init__(f"{status or '-'} {title}: {detail}" if detail else f"{status or '-'} {title}")
        self.type, self.title, self.status, self.detail = problem_type, title, status, detail
        self.errors = errors or []
        self.extra = extra or {}

    @property
    def code(self) -> str:
        """The short problem kind, e.g. `not-found` for `urn:secateur:problem:not-found`."""
        return self.type.removeprefix(PROBLEM_PREFIX).removeprefix("urn:secateur:client:")

    @classmethod
    def from_response(cls, response: httpx.Response) -> "ApiError":
        """The problem in an error response; a body that is not problem+json still gives a readable error."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            text = response.text.strip()[:500]
            return cls(title=response.reason_phrase or "HTTP error", status=response.status_code, detail=text)
        known = {"type", "title", "status", "detail", "errors"}
        return cls(
            problem_type=str(body.get("type", "about:blank")),
            title=str(body.get("title") or response.reason_phrase),
            status=int(body.get("status") or response.status_code),
            detail=str(body.get("detail") or ""),
            errors=list(body.get("errors") or []),
            extra={k: v for k, v in body.items() if k not in known},
        )

    @classmethod
    def client_side(cls, code: str, title: str, detail: str, status: int | None = None) -> "ApiError":
        """A problem found by the client itself (unreachable API, checksum mismatch, unsafe archive)."""
        return cls(problem_type=f"urn:secateur:client:{code}", title=title, status=status, detail=detail)
