"""The HTTP server's own limits, shared by `secateur serve` and documented for the compose file."""

from typing import Any

from secateur.kernel.settings import Settings


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn.Config keyword arguments that bound headers, idle connections and concurrency.

    h11 is chosen over httptools because only h11 bounds the size of a request head: a 100 MB
    header is answered 431 after `max_header_bytes` instead of being buffered while other
    requests wait. The body read timeout is an ASGI middleware (app/core/http.py).
    """
    return {
        "http": "h11",
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "timeout_keep_alive": settings.keep_alive_timeout_s,
        "limit_concurrency": settings.max_concurrent_connections,
    }


def main(argv: list[str] | None = None) -> None:
    """Run the API alone under uvicorn with these limits (the compose file's API command)."""
    import argparse

    import uvicorn

    from secateur.kernel.settings import get_settings

    parser = argparse.ArgumentParser(prog="python -m app.core.server", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--forwarded-allow-ips", default="127.0.0.1", help="proxies whose X-Forwarded-For is trusted"
    )
    args = parser.parse_args(argv)
    uvicorn.run(
        "app.main:app",
        host=args.host,
        port=args.port,
        proxy_headers=True,
        forwarded_allow_ips=args.forwarded_allow_ips,
        **server_options(get_settings()),
    )


if __name__ == "__main__":
    main()
