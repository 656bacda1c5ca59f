"""`secateur serve`: migrations, an API key, the local runner and the API in one process tree."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from types import FrameType
from typing import Annotated, TextIO

import typer

from secateur.kernel.logs import configure_logging
from secateur.kernel.settings import Settings, get_settings

log = logging.getLogger(__name__)

KEY_FILE = "api-key"


def ensure_api_key(settings: Settings) -> tuple[str, str]:
    """The key to print and where it came from: SECATEUR_BOOTSTRAP_API_KEY, or one made once and kept.

    The generated key is kept in `<data_dir>/api-key` (mode 0600) so later starts reuse it; only its
    hash goes into the database, like any other key.
    """
    from app.keys.service import ensure_bootstrap_key, generate_key
    from secateur.kernel.db import session_scope

    if settings.bootstrap_api_key:
        key, source = settings.bootstrap_api_key, "SECATEUR_BOOTSTRAP_API_KEY"
    else:
        path = settings.data_dir / KEY_FILE
        if path.is_file():
            key = path.read_text().strip()
            if len(key) < 16:
                raise SystemExit(f"{path} does not hold an API key; delete it and a new one is made")
        else:
            key = generate_key()
            path.parent.mkdir(parents=True, exist_ok=True)
            # Create with 0600 from the start so the key is never readable by others, even briefly.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(key + "\n")
        source = str(path)
    with session_scope() as session:
        ensure_bootstrap_key(session, key)
    return key, source


def announce_key(key: str, source: str, out: TextIO) -> None:
    """Show the key on a terminal only: when output goes to a file or a pipe it would land in a log."""
    if out.isatty():
        print(f"API key ({source}): {key}", file=out, flush=True)
    else:
        print(f"API key: not shown (output is not a terminal); read it from {source}", file=out, flush=True)


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    """Turn SIGTERM into the same clean shutdown as Ctrl-C."""
    raise KeyboardInterrupt


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Run the API and the local job runner until Ctrl-C (SQLite under ./data by default, no Redis)."""
    import uvicorn

    from app.core.server import server_options
    from secateur.kernel.migrate import upgrade_to_head
    from worker.local_runner import LocalRunner

    configure_logging()
    # Everything serve creates (database, blobs, key file, job work dirs) is readable by its owner only.
    os.umask(0o077)
    settings = get_settings()
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    upgrade_to_head()
    key, source = ensure_api_key(settings)
    announce_key(key, source, sys.stdout)
    print(f"API on http://{host}:{port}  (Ctrl-C to stop)", flush=True)

    runner: LocalRunner | None = None
    thread: threading.Thread | None = None
    if settings.queue == "local":
        runner = LocalRunner(settings)
        thread = threading.Thread(target=runner.run_forever, name="local-runner", daemon=True)
        thread.start()
    else:
        log.info("SECATEUR_QUEUE=%s: jobs go to Celery workers, no local runner", settings.queue)
    # uvicorn re-raises the signal it caught once it has stopped; this makes SIGTERM unwind like Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    config = uvicorn.Config(
        "app.main:app", host=host, port=port, log_level="info", **server_options(settings)
    )
    server = uvicorn.Server(config)
    try:
        server.run()  # returns after Ctrl-C / SIGTERM: uvicorn handles both
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the Ctrl-C it handled; the shutdown below is the answer to it
    finally:
        if runner is not None and thread is not None:
            runner.stop()
            # The runner stops its job's process and requeues the job, so the next start resumes it.
            thread.join(timeout=30)
