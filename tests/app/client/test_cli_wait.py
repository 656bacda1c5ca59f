"""The `jobs wait` view: its state from events, and its time estimate."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from app.cli_wait import JobView, duration, estimate_left
from app.client.models import EventOut, JobOut

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def job(**fields: Any) -> JobOut:
    """A running job object with retention 0.9."""
    body: dict[str, Any] = {
        "id": "job_1", "status": "running", "model": "m", "task": {"name": "rte"}, "strategy": "aglp",
        "retention": 0.9, "hyperparameters": {}, "metadata": {}, "created_at": T0, "started_at": T0,
        "finished_at": None, "result": None, "error": None,
        "progress": {"round": 0, "layers_total": None, "layers_remaining": None, "baseline_score": None,
                     "current_score": None, "retained_fraction": None},
        "urls": dict.fromkeys(("self", "rounds", "events", "cancel", "artifact", "artifacts"), "/v1/jobs/1"),
    "baseline": "fine-tune", "allow_weak_baseline": False, "protected_layers": [], "target_layers": None,
    "keep_depths": False, "warnings": [],
    }  # fmt: skip
    return JobOut.model_validate(body | fields)


def event(n: int, type_: str, at_s: float, **data: Any) -> EventOut:
    """An event `at_s` seconds after T0."""
    return EventOut(id=n, type=type_, message=type_, data=data, created_at=T0 + timedelta(seconds=at_s))


def test_the_view_tracks_round_layers_score_and_threshold() -> None:
    """Baseline, candidates and a kept round move the summary forward."""
    view = JobView(job())
    view.apply(event(1, "baseline.scored", 10, score=0.8, layers_total=4))
    for layer in range(4):
        view.apply(event(2 + layer, "candidate.scored", 20 + 10 * layer, round=1, layer=layer))
    view.apply(event(6, "round.finished", 60, round=1, removed_layer=2, score=0.78, accepted=True))
    view.apply(event(7, "candidate.scored", 70, round=2, layer=0))
    line = view.summary(now=(T0 + timedelta(seconds=70)).timestamp())
    assert "round 2" in line and "3/4 layers left" in line
    assert "score 0.7800 vs threshold 0.7200" in line and "elapsed 1m10s" in line
    # 5 candidates in 60 s since the baseline: 12 s each; 2 left this round + 2 in the last round.
    assert "≤ 48s left" in line


def test_a_rejected_round_removes_nothing() -> None:
    """A round below the threshold leaves the layer count and score as they were."""
    view = JobView(job())
    view.apply(event(1, "baseline.scored", 0, score=0.8, layers_total=2))
    view.apply(event(2, "round.finished", 5, round=1, removed_layer=0, score=0.5, accepted=False))
    view.apply(event(3, "job.succeeded", 6))
    assert (view.layers_remaining, view.score, view.status) == (2, 0.8, "succeeded")


def test_estimates_and_durations() -> None:
    """Every remaining round scores one candidate per layer, down to a single layer."""
    assert estimate_left(10.0, layers_remaining=6, scored_this_round=2) == 10.0 * (4 + 5 + 4 + 3 + 2)
    assert estimate_left(10.0, layers_remaining=1, scored_this_round=0) == 0.0
    assert [duration(s) for s in (42, 185, 3720)] == ["42s", "3m05s", "1h02m"]


def test_the_live_display_on_a_terminal(
    api: Any, caller: Any, make_job: Any, db_session: Any, event_hub: Any
) -> None:
    """On a terminal the view is redrawn in place from the stream and ends with the job's state."""
    import io

    from rich.console import Console

    from app.cli_wait import follow
    from secateur.kernel.models import Event

    job = make_job(caller.id, status="succeeded", result=None, started_at=T0)
    for type_, data in (
        ("baseline.scored", {"score": 0.8, "layers_total": 4}),
        ("round.finished", {"round": 1, "removed_layer": 2, "score": 0.79, "accepted": True}),
        ("job.succeeded", {}),
    ):
        db_session.add(Event(job_id=job.id, type=type_, message=f"{type_} message", data=data))
    db_session.commit()
    screen = io.StringIO()
    finished = follow(api, job.id, Console(file=screen, force_terminal=True, width=120))
    assert finished.status == "succeeded"
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())  # cursor moves and colours
    assert "\nsucceeded · round 1 · 3/4 layers left · score 0.7900 vs threshold 0.7600 · elapsed" in text
    assert "1 removed\n" in text and "round.finished message" in text
