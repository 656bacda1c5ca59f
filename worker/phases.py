"""Named phases of a task timed one after another, logged as one line of `name=seconds` pairs."""

from __future__ import annotations

import time


class Phases:
    """Times consecutive phases: `lap(name)` closes the phase that began at the previous lap."""

    def __init__(self) -> None:
        self._last = time.monotonic()
        self.seconds: dict[str, float] = {}

    def lap(self, name: str) -> None:
        """End the current phase under `name` (added to it if it ran before) and begin the next."""
        now = time.monotonic()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self._last
        self._last = now

    def line(self) -> str:
        """`name=1.23 other=0.45 total=1.68`: easy to read and to parse from a log."""
        pairs = [f"{name}={s:.2f}" for name, s in self.seconds.items()]
        return " ".join([*pairs, f"total={sum(self.seconds.values()):.2f}"])
