"""POST /v1/jobs with dry_run: cost per strategy, budget and shortlist errors; zero-shot rounds."""

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from secateur.kernel.models import CandidateScore, Round, utcnow

Body = Callable[..., dict[str, Any]]
ROOT = Path(__file__).resolve().parents[3]


def _post(client: TestClient, caller: Any, body: Any) -> Any:
    """POST /v1/jobs as `caller`."""
    return client.post("/v1/jobs", headers=caller.headers, json=body)


def _fields(response: Any) -> list[str]:
    """The fields a problem+json response names."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return [e["field"] for e in response.json()["errors"]]


def test_dry_run_estimates_every_strategy_and_creates_nothing(
    client: TestClient, caller: Any, job_body: Body
) -> None:
    """RTE (2490 rows), 6 layers, 1 epoch, candidates on 200: exact counts, no job, no time yet."""
    hp = {"epochs": 1, "candidate_epochs": 1, "repurpose_epochs": 1, "candidate_train_examples": 200}
    body = job_body(strategy="aglp-shortlist", hyperparameters={**hp, "shortlist": 2}, dry_run=True, layers=6)
    response = _post(client, caller, body)
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["object"] == "job.estimate" and out["train_size"] == 2490 and out["layers"] == 6
    costs = {c["strategy"]: c for c in out["strategies"]}
    # baseline 2490; rounds from 6, 5, 4, 3, 2 layers: 2 candidates x 200 + a 2490 repurposing each,
    # and one round widened to the 4 candidates its shortlist left out.
    assert out["estimate"] == costs["aglp-shortlist"]
    assert costs["aglp-shortlist"] == {
        "strategy": "aglp-shortlist",
        "fine_tunes": 1 + 5 * 3 + 4,
        "train_examples": 2490 + 5 * (400 + 2490) + 4 * 200,
        "seconds": None,
        "within_budget": None,
    }
    assert costs["aglp"]["train_examples"] == 2490 + (6 + 5 + 4 + 3 + 2) * 200 + 5 * 2490
    assert costs["top"]["train_examples"] == 6 * 2490 and costs["analyze"]["fine_tunes"] == 1
    assert out["throughput"] == {"examples_per_second": None, "jobs": 0}
    assert client.get("/v1/jobs", headers=caller.headers).json()["data"] == []


def test_dry_run_counts_the_jobs_floor_and_baseline_mode(
    client: TestClient, caller: Any, job_body: Body
) -> None:
    """target_layers stops the rounds early and an as-is baseline trains nothing, as in the engine."""
    hp = {"epochs": 1, "candidate_epochs": 1, "repurpose_epochs": 1, "candidate_train_examples": 200}
    body = job_body(hyperparameters=hp, dry_run=True, layers=6, target_layers=4, baseline="as-is")
    response = _post(client, caller, body)
    assert response.status_code == 200, response.text
    aglp = {c["strategy"]: c for c in response.json()["strategies"]}["aglp"]
    # No baseline fine-tune; rounds from 6 and 5 layers only: candidates on 200, one repurposing each.
    assert aglp["train_examples"] == (6 + 5) * 200 + 2 * 2490
    assert aglp["fine_tunes"] == 6 + 5 + 2


def test_dry_run_times_with_the_measured_throughput_and_checks_the_budget(
    client: TestClient, caller: Any, job_body: Body, make_job: Callable[..., Any]
) -> None:
    """Seconds use the median examples/s of finished jobs; within_budget compares with the budget."""
    for rate in (10.0, 20.0, 40.0):
        result = {"throughput": {"train": {"examples_per_second": rate}}}
        make_job(caller.id, status="succeeded", result=result, finished_at=utcnow())
    hp = {"epochs": 1, "candidate_epochs": 1, "max_train_examples": 100, "max_train_examples_total": 1000}
    out = _post(client, caller, job_body(hyperparameters=hp, dry_run=True, layers=4)).json()
    costs = {c["strategy"]: c for c in out["strategies"]}
    assert out["throughput"] == {"examples_per_second": 20.0, "jobs": 3}
    assert costs["top"]["train_examples"] == 100 + 3 * 100 and costs["top"]["seconds"] == 20.0
    assert costs["top"]["within_budget"] is True and costs["aglp"]["within_budget"] is False


def test_a_dry_run_names_what_it_is_missing_or_what_is_wrong(
    client: TestClient, caller: Any, job_body: Body, dataset_id: str
) -> None:
    """No layers, a custom task without a size, a shortlist deeper than the model, an invalid job: 422s."""
    assert _fields(_post(client, caller, job_body(dry_run=True))) == ["layers"]
    task = {"type": "classification", "train_file": dataset_id, "validation_file": dataset_id}
    assert _fields(_post(client, caller, job_body(task=task, dry_run=True, layers=6))) == ["train_size"]
    ok = _post(client, caller, job_body(task=task, dry_run=True, layers=6, train_size=500))
    assert ok.status_code == 200 and ok.json()["train_size"] == 500
    deep = job_body(strategy="aglp-shortlist", hyperparameters={"shortlist": 7}, dry_run=True, layers=6)
    assert _fields(_post(client, caller, deep)) == ["hyperparameters.shortlist"]
    assert "strategy" in _fields(_post(client, caller, job_body(strategy="random", dry_run=True, layers=6)))
    assert "layers" in str(_post(client, caller, job_body(layers=6)).json())  # hints need dry_run


def test_a_budget_below_the_baseline_is_refused_at_submit(
    client: TestClient, caller: Any, job_body: Body
) -> None:
    """RTE's 2490 rows x 3 epochs cannot fit in 7000 examples: 422 before any job exists."""
    body = job_body(hyperparameters={"max_train_examples_total": 7000})
    assert _fields(_post(client, caller, body)) == ["hyperparameters.max_train_examples_total"]
    assert client.get("/v1/jobs", headers=caller.headers).json()["data"] == []
    fits = job_body(
        strategy="aglp-shortlist", hyperparameters={"max_train_examples_total": 7470, "shortlist": 1}
    )
    created = _post(client, caller, fits)
    assert created.status_code == 201 and created.json()["hyperparameters"]["shortlist"] == 1


def test_rounds_show_zero_shot_figures(
    client: TestClient, caller: Any, make_job: Callable[..., Any], db_session: Session
) -> None:
    """Every candidate's zero-shot metric, loss and Block Influence; a fine-tuned score where verified."""
    job = make_job(caller.id, status="running", strategy="aglp-shortlist")
    db_session.add(
        Round(
            job_id=job.id, round=1, layers_before=2, removed_layer=1, score=0.9, report_score=0.9,
            retained_fraction=1.0, accepted=True, seconds=1.0, train_examples=300, zero_shot_top=False,
            kendall_tau=None,
        )
    )  # fmt: skip
    db_session.add(CandidateScore(job_id=job.id, round=1, layer=0, score=None, zero_shot_score=0.8,
                                  zero_shot_loss=0.5, block_influence=0.1))  # fmt: skip
    db_session.add(CandidateScore(job_id=job.id, round=1, layer=1, score=0.9, zero_shot_score=0.7,
                                  zero_shot_loss=0.6, block_influence=0.2))  # fmt: skip
    db_session.commit()
    data = client.get(f"/v1/jobs/{job.id}/rounds", headers=caller.headers).json()["data"]
    assert data[0]["zero_shot_top"] is False and data[0]["train_examples"] == 300
    assert data[0]["candidates"] == [
        {"layer": 0, "score": None, "zero_shot_score": 0.8, "zero_shot_loss": 0.5, "block_influence": 0.1},
        {"layer": 1, "score": 0.9, "zero_shot_score": 0.7, "zero_shot_loss": 0.6, "block_influence": 0.2},
    ]


PROBE = """
import json, sys
from fastapi.testclient import TestClient
from app.jobs import estimate
from secateur.kernel.jobs.schemas import JobCreate
raw = {"model": "m", "task": {"name": "rte"}, "retention": 0.9, "dry_run": True, "layers": 6}
body = JobCreate.model_validate(raw)
estimate.build(body, [])
print(json.dumps(sorted({n.split('.')[0] for n in sys.modules} & {'torch', 'transformers', 'datasets'})))
"""


def test_the_estimate_loads_no_torch() -> None:
    """The cost rule the API shares with the engine is torch-free."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
