"""`secateur jobs wait`: a live view of a job built from its event stream."""

import time
from dataclasses import dataclass, field
from datetime import datetime

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from app.client import SecateurClient
from app.client.models import EventOut, JobOut
from secateur.kernel.vocabulary import TERMINAL_EVENTS


def estimate_left(per_candidate_s: float, layers_remaining: int, scored_this_round: int) -> float:
    """Seconds left if every round is kept: a round over n layers scores n candidates, down to one layer."""
    this_round = max(layers_remaining - scored_this_round, 0) if layers_remaining > 1 else 0
    later_rounds = sum(range(2, layers_remaining))
    return per_candidate_s * (this_round + later_rounds)


def duration(seconds: float) -> str:
    """A short human duration such as `1h02m`, `3m05s` or `42s`."""
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


@dataclass
class JobView:
    """What the event stream has said so far about one job."""

    job: JobOut
    round: int = 0
    layers_total: int | None = None
    layers_remaining: int | None = None
    baseline: float | None = None
    score: float | None = None
    scored_this_round: int = 0
    candidates_since_baseline: int = 0
    baseline_at: datetime | None = None
    last_at: datetime | None = None
    status: str = ""
    log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.status = self.job.status

    @property
    def threshold(self) -> float | None:
        """The score a candidate must keep: retention x the full model's score."""
        return None if self.baseline is None else self.job.retention * self.baseline

    def apply(self, event: EventOut) -> None:
        """Move the view forward by one event."""
        data, self.last_at = event.data, event.created_at
        if event.type == "baseline.scored":
            self.baseline, self.score = data.get("score"), data.get("score")
            self.layers_total = self.layers_remaining = data.get("layers_total")
            self.baseline_at = event.created_at
        elif event.type == "candidate.scored":
            self.round = int(data.get("round", self.round))
            self.scored_this_round += 1
            self.candidates_since_baseline += 1
        elif event.type == "round.finished":
            self.round, self.scored_this_round = int(data.get("round", self.round)), 0
            if data.get("accepted") and data.get("removed_layer") is not None and self.layers_remaining:
                self.layers_remaining -= 1
                self.score = data.get("score", self.score)
        elif event.type == "job.started":
            self.status = "running"
        elif event.type in TERMINAL_EVENTS:
            self.status = event.type.removeprefix("job.")
        if event.type != "candidate.scored":
            self.log.append(event.message)

    def estimate(self, now: float) -> float | None:
        """Seconds left at the pace since the baseline, or None before the first candidate."""
        if not (self.baseline_at and self.candidates_since_baseline and self.layers_remaining):
            return None
        per_candidate = (now - self.baseline_at.timestamp()) / self.candidates_since_baseline
        return estimate_left(per_candidate, self.layers_remaining, self.scored_this_round)

    def summary(self, now: float) -> str:
        """One line: status, round, layers left, score vs threshold, elapsed and estimated time."""
        parts = [self.status, f"round {self.round}"]
        if self.layers_total:
            parts.append(f"{self.layers_remaining}/{self.layers_total} layers left")
        if self.score is not None and self.threshold is not None:
            parts.append(f"score {self.score:.4f} vs threshold {self.threshold:.4f}")
        started = self.job.started_at or self.job.created_at
        parts.append(f"elapsed {duration(now - started.timestamp())}")
        left = self.estimate(now)
        if left is not None and self.status == "running":
            parts.append(f"≤ {duration(left)} left")
        return " · ".join(parts)

    def render(self, now: float) -> Group:
        """The live display: a bar of layers removed, the summary line and the recent messages."""
        total = self.layers_total or 1
        removed = total - (self.layers_remaining if self.layers_remaining is not None else total)
        # A grid row, so the bar (which ends no line of its own) and its label share one line.
        bar = Table.grid(padding=(0, 1))
        bar.add_row(ProgressBar(total=max(total - 1, 1), completed=removed, width=40), f"{removed} removed")
        lines = [Text(message, style="dim") for message in self.log[-6:]]
        return Group(Text(self.job.id, style="bold"), bar, Text(self.summary(now)), *lines)


def follow(client: SecateurClient, job_id: str, console: Console) -> JobOut:
    """Show the job's progress until it ends (a live display on a terminal, plain lines otherwise)."""
    view = JobView(client.jobs.get(job_id))
    if not console.is_terminal:

        def print_line(event: EventOut) -> None:
            view.apply(event)
            if event.type != "candidate.scored":
                console.print(
                    f"{event.message}  ({view.summary(time.time())})", highlight=False, markup=False
                )

        return client.jobs.wait(job_id, on_event=print_line)
    # A renderable callback, so elapsed and estimated times tick between events too.
    with Live(console=console, get_renderable=lambda: view.render(time.time()), refresh_per_second=2):
        return client.jobs.wait(job_id, on_event=view.apply)
