"""The Python client against the real app: files, jobs, events, errors and artifact downloads."""

import hashlib
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from app.client import ApiError, SecateurClient
from secateur.kernel.models import Event, Job
from tests.support.tiny_safetensors import model_files

Body = Callable[..., dict[str, Any]]
TarGz = Callable[[list[tuple[str, bytes]]], bytes]
ARTIFACT_FILES = [("pruned/config.json", b'{"model_type": "bert"}'), ("pruned/report.json", b"{}" * 3000)]


def test_a_model_directory_is_packed_and_uploaded(api: SecateurClient, tmp_path: Path) -> None:
    """A directory goes up as one .tar.gz of purpose model; a CSV as a dataset."""
    model = tmp_path / "tiny"
    model.mkdir()
    for name, payload in model_files():
        (model / name).write_bytes(payload)
    uploaded = api.files.upload(model)
    assert (uploaded.purpose, uploaded.filename) == ("model", "tiny.tar.gz")
    (tmp_path / "train.csv").write_text("sentence,label\nnice,1\n")
    dataset = api.files.upload(tmp_path / "train.csv")
    assert dataset.purpose == "dataset"
    assert [f.id for f in api.files.iter(page_size=1)] == [dataset.id, uploaded.id]


def test_submit_replays_with_its_idempotency_key_and_lists_page_by_page(
    api: SecateurClient, job_body: Body
) -> None:
    """The same key returns the same job; listing walks every page newest first."""
    first = api.jobs.submit(job_body(), idempotency_key="run-1")
    assert api.jobs.submit(job_body(), idempotency_key="run-1").id == first.id
    later = [api.jobs.submit(job_body(retention=0.5)).id for _ in range(2)]
    page = api.jobs.list(limit=2)
    assert page.has_more and [j.id for j in page.data] == later[::-1]
    assert [j.id for j in api.jobs.iter(page_size=2)] == [*later[::-1], first.id]
    assert api.jobs.get(first.id).retention == 0.9


def test_problems_carry_their_fields(api: SecateurClient, client: Any, job_body: Body) -> None:
    """A 422 names the field; a wrong key is a 401 with the problem's type, title and detail."""
    with pytest.raises(ApiError) as invalid:
        api.jobs.submit(job_body(retention=2))
    assert invalid.value.status == 422 and invalid.value.code == "validation-error"
    assert invalid.value.errors[0]["field"] == "retention"
    stranger = SecateurClient(api_key="sk-sec-wrong", http=client)
    with pytest.raises(ApiError) as unauthorized:
        stranger.jobs.list()
    problem = unauthorized.value
    assert (problem.status, problem.code, problem.title) == (401, "unauthorized", "Unauthorized")
    assert problem.type == "urn:secateur:problem:unauthorized" and "invalid" in problem.detail


def test_cancel_rounds_and_the_event_log(
    api: SecateurClient, caller: Any, make_job: Callable[..., Job]
) -> None:
    """Cancelling a queued job ends it at once and logs it; a job without rounds has none."""
    job = make_job(caller.id, status="queued")
    assert api.jobs.cancel(job.id).status == "cancelled"
    assert [e.type for e in api.jobs.iter_events(job.id)] == ["job.cancelled"]
    assert api.jobs.rounds(job.id) == []
    with pytest.raises(ApiError) as finished:
        api.jobs.cancel(job.id)
    assert finished.value.status == 409 and finished.value.code == "job-finished"


def test_wait_follows_the_stream_to_the_end(
    api: SecateurClient, caller: Any, make_job: Callable[..., Job], db_session: Session, event_hub: Any
) -> None:
    """wait() hands every event to the callback and returns the finished job."""
    job = make_job(
        caller.id, status="failed", error_code="invalid_dataset", error_message="no column 'label'"
    )
    for type_ in ("job.created", "job.started", "job.failed"):
        db_session.add(Event(job_id=job.id, type=type_, message=type_, data={}))
    db_session.commit()
    seen: list[str] = []
    finished = api.jobs.wait(job.id, on_event=lambda e: seen.append(e.type))
    assert seen == ["job.created", "job.started", "job.failed"]
    assert finished.status == "failed" and finished.error is not None
    assert finished.error.code == "invalid_dataset"


@pytest.fixture
def artifact(tar_gz: TarGz) -> bytes:
    """A real .tar.gz, so it can be unpacked."""
    return tar_gz(ARTIFACT_FILES)


def test_download_verifies_and_unpacks(
    api: SecateurClient, store_artifact: Callable[[bytes], Job], artifact: bytes, tmp_path: Path
) -> None:
    """The archive is saved, its sha256 checked and its files unpacked; a second call reuses it."""
    job = store_artifact(artifact)
    got = api.jobs.download(job.id, tmp_path / "model.tar.gz", unpack_to=tmp_path / "model")
    assert got.path.read_bytes() == artifact and got.sha256 == hashlib.sha256(artifact).hexdigest()
    assert got.resumed_from == 0 and not (tmp_path / "model.tar.gz.part").exists()
    assert (tmp_path / "model" / "pruned" / "config.json").read_bytes() == ARTIFACT_FILES[0][1]
    assert api.jobs.download(job.id, tmp_path / "model.tar.gz").bytes == len(artifact)


def test_an_interrupted_download_resumes_with_range(
    api: SecateurClient, store_artifact: Callable[[bytes], Job], artifact: bytes, tmp_path: Path
) -> None:
    """A partial `.part` file is continued from where it stopped, not fetched again."""
    job = store_artifact(artifact)
    half = len(artifact) // 2
    (tmp_path / "model.tar.gz.part").write_bytes(artifact[:half])
    got = api.jobs.download(job.id, tmp_path / "model.tar.gz")
    assert got.resumed_from == half and got.path.read_bytes() == artifact


def test_a_corrupt_partial_download_fails_its_checksum(
    api: SecateurClient, store_artifact: Callable[[bytes], Job], artifact: bytes, tmp_path: Path
) -> None:
    """Bytes that do not hash to the API's sha256 are an error, and the bad partial file is removed."""
    job = store_artifact(artifact)
    part = tmp_path / "model.tar.gz.part"
    part.write_bytes(b"\xff" * 100)
    with pytest.raises(ApiError) as mismatch:
        api.jobs.download(job.id, tmp_path / "model.tar.gz")
    assert mismatch.value.code == "checksum-mismatch" and not part.exists()
    assert not (tmp_path / "model.tar.gz").exists()


def test_an_unsafe_archive_is_not_unpacked(
    api: SecateurClient, store_artifact: Callable[[bytes], Job], tar_gz: TarGz, tmp_path: Path
) -> None:
    """A member that climbs out of the target directory stops the unpacking."""
    job = store_artifact(tar_gz([("../escape.txt", b"x")]))
    with pytest.raises(ApiError) as unsafe:
        api.jobs.download(job.id, tmp_path / "a.tar.gz", unpack_to=tmp_path / "out")
    assert unsafe.value.code == "unsafe-archive" and not (tmp_path / "escape.txt").exists()
    assert tarfile.is_tarfile(tmp_path / "a.tar.gz")


def test_no_artifact_before_success(
    api: SecateurClient, caller: Any, make_job: Callable[..., Job], tmp_path: Path
) -> None:
    """A running job has nothing to download yet."""
    job = make_job(caller.id, status="running")
    with pytest.raises(ApiError) as early:
        api.jobs.download(job.id, tmp_path / "x.tar.gz")
    assert early.value.status == 409 and early.value.code == "artifact-not-ready"


def test_wait_returns_for_a_finished_job_whose_log_has_no_terminal_event(
    api: SecateurClient, caller: Any, make_job: Callable[..., Job], db_session: Session, event_hub: Any
) -> None:
    """Older rows may lack the terminal event: the stream ends, and the job's status says it is over."""
    job = make_job(caller.id, status="failed", error_code="worker_lost", error_message="gone")
    db_session.add(Event(job_id=job.id, type="job.started", message="started", data={}))
    db_session.commit()
    seen: list[str] = []
    assert api.jobs.wait(job.id, on_event=lambda e: seen.append(e.type)).status == "failed"
    assert seen == ["job.started"]
