"""The job's process: SIGTERM as an exception, stdin on /dev/null, and the name it runs under."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Terminated(BaseException):
    """SIGTERM reached the job's process: a forced cancel, or a worker shutting down.

    A BaseException, so no `except Exception` on the way up swallows it.
    """


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    """Turn SIGTERM into an exception, so the job can tidy up on its way out."""
    raise Terminated()


@contextmanager
def terminated_on_sigterm() -> Iterator[None]:
    """Within the block, SIGTERM raises Terminated (main thread only: Python signals live there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def detach_stdin() -> None:
    """Point fd 0 and sys.stdin at /dev/null, so nothing a job loads can prompt on the worker's terminal."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdin = open(os.devnull)  # noqa: SIM115  # stays open for the process's life, like any stdin


def worker_name() -> str:
    """Who runs the job, as shown in the job row: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"
