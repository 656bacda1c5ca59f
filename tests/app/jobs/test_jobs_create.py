"""POST /v1/jobs: validation, file references, idempotency and enqueueing after commit."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from secateur.kernel import queue
from secateur.kernel.models import Job
from secateur.kernel.settings import Settings

Body = Callable[..., dict[str, Any]]


def _post(client: TestClient, caller: Any, body: Any, **headers: str) -> Any:
    """POST /v1/jobs as `caller` with extra headers."""
    return client.post("/v1/jobs", headers={**caller.headers, **headers}, json=body)


def test_create_returns_the_job_object(client: TestClient, caller: Any, job_body: Body) -> None:
    """A new job is queued and shown with defaults, empty progress, urls and a created event."""
    response = _post(client, caller, job_body(metadata={"team": "nlp"}))
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["id"].startswith("job_") and job["status"] == "queued"
    assert job["task"] == {"name": "rte"} and job["strategy"] == "aglp-shortlist" and job["retention"] == 0.9
    assert job["hyperparameters"]["epochs"] == 3 and job["hyperparameters"]["max_train_examples"] is None
    assert job["metadata"] == {"team": "nlp"}
    assert job["progress"] == {
        "round": 0,
        "layers_total": None,
        "layers_remaining": None,
        "baseline_score": None,
        "current_score": None,
        "retained_fraction": None,
    }
    assert job["result"] is None and job["error"] is None and job["started_at"] is None
    assert job["urls"]["artifact"] == f"/v1/jobs/{job['id']}/artifact"
    events = client.get(job["urls"]["events"], headers=caller.headers).json()["data"]
    assert [e["type"] for e in events] == ["job.created"]


def test_task_aliases_are_canonicalised(client: TestClient, caller: Any, job_body: Body) -> None:
    """Task aliases are stored under their canonical name."""
    response = _post(client, caller, job_body(task={"name": "SST-2"}, strategy="glp"))
    assert response.status_code == 201 and response.json()["task"] == {"name": "sst2"}


def test_custom_task_with_uploaded_files(
    client: TestClient, caller: Any, job_body: Body, dataset_id: str
) -> None:
    """A custom task over the caller's uploaded datasets is accepted as sent."""
    task = {
        "type": "classification",
        "train_file": dataset_id,
        "validation_file": dataset_id,
        "text_fields": ["sentence"],
        "label_field": "label",
    }
    response = _post(client, caller, job_body(task=task))
    assert response.status_code == 201, response.text
    assert response.json()["task"] == task


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"retention": 0}, "retention"),
        ({"retention": 1.5}, "retention"),
        ({"strategy": "random"}, "strategy"),
        ({"task": {"name": "imagenet"}}, "task.name"),
        ({"task": {"type": "classification", "train_file": "file_x"}}, "task.validation_file"),
        ({"task": {"type": "ranking", "train_file": "f", "validation_file": "f"}}, "task.type"),
        ({"model": "../../etc/passwd"}, "model"),
        ({"model": "org/name with spaces"}, "model"),
        ({"hyperparameters": {"epochs": 0}}, "hyperparameters.epochs"),
        ({"hyperparameters": {"repurpose_epochs": -1}}, "hyperparameters.repurpose_epochs"),
        ({"hyperparameters": {"learning_rate": 0}}, "hyperparameters.learning_rate"),
        ({"hyperparameters": {"batch_size": 2048}}, "hyperparameters.batch_size"),
        ({"hyperparameters": {"max_length": 4}}, "hyperparameters.max_length"),
        ({"hyperparameters": {"seed": -1}}, "hyperparameters.seed"),
        ({"hyperparameters": {"max_train_examples": 0}}, "hyperparameters.max_train_examples"),
        ({"hyperparameters": {"candidate_train_examples": 0}}, "hyperparameters.candidate_train_examples"),
        ({"hyperparameters": {"epoch": 3}}, "hyperparameters.epoch"),
        ({"metadata": {"k": 1}}, "metadata.k"),
    ],
)
def test_invalid_fields_are_422_naming_the_field(
    client: TestClient, caller: Any, job_body: Body, change: dict[str, Any], field: str
) -> None:
    """Each out-of-range or unknown field is a 422 naming it."""
    response = _post(client, caller, job_body(**change))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert field in [e["field"] for e in problem["errors"]], problem
    assert problem["type"] == "urn:secateur:problem:validation-error"


@pytest.mark.parametrize("missing", ["model", "task", "retention"])
def test_missing_fields_are_422(client: TestClient, caller: Any, job_body: Body, missing: str) -> None:
    """Each required field, when missing, is a 422 naming it."""
    body = job_body()
    del body[missing]
    response = _post(client, caller, body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == missing


def test_a_non_object_body_is_422(client: TestClient, caller: Any) -> None:
    """A JSON array instead of an object is a 422."""
    assert _post(client, caller, [1, 2]).status_code == 422


def test_unknown_file_ids_are_422_naming_the_field(
    client: TestClient, caller: Any, other_caller: Any, job_body: Body, dataset_id: str
) -> None:
    """Unknown and foreign file ids are 422s naming the task field."""
    task = {"type": "classification", "train_file": "file_missing", "validation_file": dataset_id}
    response = _post(client, caller, job_body(task=task))
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "task.train_file"
    # Another key's dataset is as unknown as a missing one.
    task = {"type": "classification", "train_file": dataset_id, "validation_file": dataset_id}
    response = _post(client, other_caller, job_body(task=task))
    assert response.status_code == 422 and "no file" in response.json()["detail"]


def test_file_purposes_must_match(
    client: TestClient,
    caller: Any,
    job_body: Body,
    dataset_id: str,
    upload: Callable[..., Any],
    model_tar: bytes,
) -> None:
    """A dataset cannot be the model and a model cannot be a dataset."""
    response = _post(client, caller, job_body(model=dataset_id))
    assert response.status_code == 422 and "purpose 'dataset'" in response.json()["detail"]
    model_id = upload(caller.headers, "model", "m.tar.gz", model_tar).json()["id"]
    task = {"type": "regression", "train_file": model_id, "validation_file": dataset_id}
    response = _post(client, caller, job_body(task=task))
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "task.train_file"
    assert _post(client, caller, job_body(model=model_id)).status_code == 201


def test_idempotency_key_replays_the_same_job(
    client: TestClient, caller: Any, other_caller: Any, job_body: Body, db_session: Session
) -> None:
    """Same key and body replay (200), another body is a 422, keys are per API key."""
    first = _post(client, caller, job_body(), **{"Idempotency-Key": "abc"})
    again = _post(client, caller, job_body(), **{"Idempotency-Key": "abc"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    different = _post(client, caller, job_body(retention=0.5), **{"Idempotency-Key": "abc"})
    assert different.status_code == 422
    assert different.json()["type"] == "urn:secateur:problem:idempotency-key-reused"
    # Keys are scoped per API key.
    theirs = _post(client, other_caller, job_body(), **{"Idempotency-Key": "abc"})
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]
    count = len(db_session.scalars(select(Job).where(Job.owner_id == caller.id)).all())
    assert count == 1


def test_a_down_broker_still_creates_the_job(
    client: TestClient, caller: Any, job_body: Body, settings: Settings, db_session: Session
) -> None:
    """With the broker down the job is still created, queued and not marked enqueued."""
    settings.queue, settings.broker_url = "celery", "redis://127.0.0.1:1/0"
    response = _post(client, caller, job_body())
    assert response.status_code == 201
    job = db_session.get_one(Job, response.json()["id"])
    assert job.status == "queued" and job.enqueued_at is None  # the reconciler re-sends it


def test_enqueue_happens_after_commit(
    client: TestClient,
    caller: Any,
    job_body: Body,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    db_session: Session,
) -> None:
    """The job is sent only after its row commits, and enqueued_at is recorded after."""
    order: list[str] = []
    event.listen(session_factory, "after_commit", lambda _session: order.append("commit"))

    def fake_enqueue(job_id: str, _settings: Settings | None = None) -> bool:
        """Record the call and report success."""
        order.append(f"enqueue {job_id}")
        return True

    monkeypatch.setattr(queue, "enqueue", fake_enqueue)
    job_id = _post(client, caller, job_body()).json()["id"]
    # The job row commits, then it is sent, then enqueued_at is recorded.
    assert order == ["commit", f"enqueue {job_id}", "commit"]
    assert db_session.get_one(Job, job_id).enqueued_at is not None
