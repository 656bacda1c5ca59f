"""The fan-out's job side and candidate side in one process (SQLite, local storage), without Celery.

A dispatch that sends nowhere leaves every candidate to the job's own process; one that runs
`score_candidate` at once plays a helper that scores the whole round first, so the job only collects
the scores and fetches the winner's weights from storage. Both must equal the sequential engine.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from secateur.kernel.db import session_scope
from secateur.kernel.models import CandidateRun, CandidateRunStatus, CandidateScore
from tests.support.local_api import get_job, local_api
from tests.support.worker_helpers import FAST
from worker import fanout
from worker.job_runner import run_job
from worker.pruning import candidates


class Inline:
    """A dispatch that records messages; `helping` scores each round's first one at once, here."""

    def __init__(self, helping: bool) -> None:
        self.helping = helping
        self.sent: list[tuple[int, int]] = []
        self.dropped: list[str] = []
        self.answers: list[str] = []

    def send(self, job_id: str, attempt: int, rnd: int, layer: int) -> str:
        first = not any(r == rnd for r, _ in self.sent)
        self.sent.append((rnd, layer))
        if self.helping and first:
            self.answers.append(fanout.score_candidate(job_id, attempt, rnd, layer))
        return f"message-{len(self.sent)}"

    def drop(self, message_ids: list[str]) -> None:
        self.dropped.extend(message_ids)


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory, model_archive: Path, dataset_files: tuple[Path, Path]
) -> Iterator[tuple[TestClient, list[str]]]:
    """The API on a fresh SQLite database and local storage, with the model and dataset uploaded."""
    settings = {"SECATEUR_LATENCY_RUNS": "0", "SECATEUR_CANDIDATE_LINGER_S": "0"}
    with local_api(tmp_path_factory.mktemp("inline"), model_archive, dataset_files, **settings) as api:
        yield api


def run(
    api: tuple[TestClient, list[str]], strategy: str, dispatch: Inline | None
) -> tuple[dict[str, Any], Any]:
    """Submit a job and run it here; (the job, its candidate scores by (round, layer))."""
    client, (model, train, validation) = api
    body = {
        "model": model,
        "task": {
            "type": "classification",
            "train_file": train,
            "validation_file": validation,
            "text_fields": ["text"],
            "label_field": "label",
        },
        "strategy": strategy,
        "retention": 0.01,
        "allow_weak_baseline": True,
        "hyperparameters": {**FAST, "candidate_epochs": 2, "shortlist": 2},
    }
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]
    run_job(job_id, dispatch=dispatch)
    job = get_job(client, job_id)
    assert job["status"] == "succeeded", job
    with session_scope() as session:
        rows = session.execute(
            select(CandidateScore.round, CandidateScore.layer, CandidateScore.score).where(
                CandidateScore.job_id == job_id, CandidateScore.score.is_not(None)
            )
        ).all()
        fanned = session.scalars(select(CandidateRun).where(CandidateRun.job_id == job_id)).all()
    assert all(r.status == CandidateRunStatus.DONE and r.claims == 1 for r in fanned)
    assert len(fanned) == (len(rows) if dispatch else 0)
    return job, {(r.round, r.layer): r.score for r in rows}


@pytest.mark.parametrize("strategy", ["aglp", "aglp-shortlist"])
def test_fanned_out_rounds_equal_the_sequential_ones(
    api: tuple[TestClient, list[str]], strategy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alone, or with a helper that scores every candidate first: the same scores and layers removed."""
    stored: list[tuple[int, int]] = []
    upload = fanout.upload_model

    def counted(storage: Any, key: Any, layer: int, model: Any, work: Path) -> None:
        stored.append((key.round, layer))
        upload(storage, key, layer, model, work)

    monkeypatch.setattr(fanout, "upload_model", counted)
    sequential, expected = run(api, strategy, None)
    alone = Inline(helping=False)
    job, scores = run(api, strategy, alone)
    assert scores == expected and job["result"]["removed_layers"] == sequential["result"]["removed_layers"]
    assert sorted(alone.dropped) == sorted(f"message-{i + 1}" for i in range(len(alone.sent)))
    assert len(alone.sent) == len(expected)

    helped = Inline(helping=True)
    job, scores = run(api, strategy, helped)
    assert scores == expected and job["result"]["removed_layers"] == sequential["result"]["removed_layers"]
    assert job["result"]["kept_layers"] == sequential["result"]["kept_layers"]
    # The helper scored every candidate, so the job kept each winner's weights from storage.
    assert sum(int(answer.split()[-1]) for answer in helped.answers) == len(expected), helped.answers
    # It stored a candidate's weights only while none scored before it (lower layers) beat it.
    assert stored == unbeaten(expected)


def unbeaten(scores: dict[tuple[int, int], float]) -> list[tuple[int, int]]:
    """The (round, layer)s, in scoring order, that beat every candidate of their round scored before them."""
    kept: list[tuple[int, int]] = []
    best: dict[int, tuple[float, int]] = {}
    for (rnd, layer), score in sorted(scores.items()):
        if rnd not in best or (score, -layer) > best[rnd]:
            best[rnd] = (score, -layer)
            kept.append((rnd, layer))
    return kept


def test_a_widened_shortlist_fans_out_each_widening(
    api: tuple[TestClient, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every round-1 candidate misses: the round widens to all four through the fan-out, as sequentially."""

    def missing(ctx: Any, start: Any, layer: int, rnd: int) -> Any:
        model, trial = timed(ctx, start, layer, rnd)
        return model, dataclasses.replace(trial, score=0.0) if rnd == 1 else trial

    timed = candidates.timed_candidate
    monkeypatch.setattr(candidates, "timed_candidate", missing)
    sequential, expected = run(api, "aglp-shortlist", None)
    assert sorted(expected) == [(1, layer) for layer in range(4)]  # widened from 2 to 4, then rejected
    helped = Inline(helping=True)
    job, scores = run(api, "aglp-shortlist", helped)
    assert scores == expected
    assert job["result"]["stopped_by"] == sequential["result"]["stopped_by"] == "threshold"
    assert sorted(helped.sent) == sorted(expected)  # each sent once, in the shortlist or the widening
