"""`secateur files …` and `secateur jobs …` through typer's CliRunner, on the in-process app."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app import cli_client
from app.client import SecateurClient
from secateur.cli import cli
from secateur.kernel.models import CandidateScore, Event, Job, Round

MakeJob = Callable[..., Job]


@pytest.fixture
def run(client: TestClient, caller: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Invoke the CLI with the caller's key in SECATEUR_API_KEY, talking to the in-process app."""
    monkeypatch.setattr(cli_client, "make_client", lambda _url, key: SecateurClient(api_key=key, http=client))
    secret = caller.headers["Authorization"].removeprefix("Bearer ")

    def _run(*args: str, key: str | None = secret) -> Any:
        """One command; returns click's Result (stdout, stderr, exit_code)."""
        env = {"SECATEUR_API_KEY": key} if key else {"SECATEUR_API_KEY": ""}
        return CliRunner().invoke(cli, list(args), env=env)

    return _run


def test_upload_prints_the_id_and_a_missing_file_is_a_usage_error(
    run: Callable[..., Any], tmp_path: Path
) -> None:
    """The id alone goes to stdout (for scripts); a path that does not exist exits 2."""
    (tmp_path / "dev.tsv").write_text("sentence\tlabel\nok\t1\n")
    done = run("files", "upload", str(tmp_path / "dev.tsv"))
    assert done.exit_code == 0, done.output
    assert done.stdout.strip().startswith("file_") and "dataset" in done.stderr
    missing = run("files", "upload", str(tmp_path / "nope.tar.gz"))
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_key_problems_are_readable(run: Callable[..., Any]) -> None:
    """No key exits 2 saying how to give one; a wrong key prints the 401 problem and exits 3."""
    none = run("jobs", "list", key=None)
    assert none.exit_code == 2 and "SECATEUR_API_KEY" in none.stderr
    wrong = run("jobs", "list", key="sk-sec-wrong")
    assert wrong.exit_code == 3
    assert "401 Unauthorized (unauthorized)" in wrong.stderr and "invalid or has been revoked" in wrong.stderr


def test_submit_from_a_yaml_file_with_flags_on_top(run: Callable[..., Any], tmp_path: Path) -> None:
    """A YAML body, with --retention and --hp overriding it; show --json reads the job back."""
    spec = tmp_path / "job.yaml"
    spec.write_text(
        "model: prajjwal1/bert-tiny\ntask: {name: rte}\nretention: 0.9\nhyperparameters: {epochs: 1}\n"
    )
    done = run(
        "jobs", "submit", "-f", str(spec), "--retention", "0.8", "--hp", "epochs=2", "--metadata", "who=me"
    )
    assert done.exit_code == 0, done.output
    job_id = done.stdout.strip()
    shown = json.loads(run("jobs", "show", job_id, "--json").stdout)
    assert shown["retention"] == 0.8 and shown["hyperparameters"]["epochs"] == 2
    assert shown["metadata"] == {"who": "me"} and shown["task"] == {"name": "rte"}
    listed = run("jobs", "list")
    assert listed.exit_code == 0 and job_id in listed.stdout


def test_submit_uploads_local_files_and_reports_field_errors(run: Callable[..., Any], tmp_path: Path) -> None:
    """Local dataset paths are uploaded first; an invalid field is printed by name and exits 3."""
    (tmp_path / "train.csv").write_text("sentence,label\nnice,1\nbad,0\n")
    done = run(
        "jobs", "submit", "--model", "prajjwal1/bert-tiny", "--type", "classification",
        "--train", str(tmp_path / "train.csv"), "--validation", str(tmp_path / "train.csv"),
        "--text-field", "sentence", "--label-field", "label", "--retention", "0.9",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert done.stderr.count("Uploaded") == 2
    bad = run("jobs", "submit", "--model", "prajjwal1/bert-tiny", "--task", "rte", "--retention", "1.5")
    assert bad.exit_code == 3 and "422" in bad.stderr and "retention" in bad.stderr


def test_rounds_table_marks_each_winner(
    run: Callable[..., Any], caller: Any, make_job: MakeJob, db_session: Session
) -> None:
    """The grid shows every candidate's score and stars the layer the round removed."""
    job = make_job(caller.id, status="running")
    db_session.add(Round(job_id=job.id, round=1, layers_before=3, removed_layer=2, score=0.9,
                         report_score=0.8, retained_fraction=0.97, accepted=True, seconds=1.0))  # fmt: skip
    for layer, score in ((0, 0.7), (1, 0.8), (2, 0.9)):
        db_session.add(CandidateScore(job_id=job.id, round=1, layer=layer, score=score))
    db_session.commit()
    done = run("jobs", "rounds", job.id)
    assert done.exit_code == 0, done.output
    assert "★0.9000" in done.stdout and "0.7000" in done.stdout and "★0.7000" not in done.stdout


def test_rounds_table_shows_zero_shot_scores_of_unverified_candidates(
    run: Callable[..., Any], caller: Any, make_job: MakeJob, db_session: Session
) -> None:
    """A shortlist round's candidates that were only ranked show their untrained score in brackets."""
    job = make_job(caller.id, status="running", strategy="aglp-shortlist")
    db_session.add(Round(job_id=job.id, round=1, layers_before=3, removed_layer=1, score=0.9,
                         report_score=0.8, retained_fraction=0.97, accepted=True, seconds=1.0))  # fmt: skip
    for layer, score, zero_shot in ((0, None, 0.41), (1, 0.9, 0.62), (2, 0.85, 0.55)):
        db_session.add(
            CandidateScore(job_id=job.id, round=1, layer=layer, score=score, zero_shot_score=zero_shot)
        )
    db_session.commit()
    done = run("jobs", "rounds", job.id)
    assert done.exit_code == 0, done.output
    assert "(0.4100)" in done.stdout and "★0.9000" in done.stdout and "0.8500" in done.stdout


def test_wait_exits_non_zero_for_a_failed_job(
    run: Callable[..., Any], caller: Any, make_job: MakeJob, db_session: Session, event_hub: Any
) -> None:
    """The event lines are printed, then the job's error, and the exit code is 1."""
    job = make_job(
        caller.id, status="failed", error_code="invalid_dataset", error_message="no column 'label'"
    )
    for type_, message in (("job.started", "attempt 1"), ("job.failed", "the dataset has no column 'label'")):
        db_session.add(Event(job_id=job.id, type=type_, message=message, data={}))
    db_session.commit()
    done = run("jobs", "wait", job.id)
    assert done.exit_code == 1
    assert "attempt 1" in done.stderr and "failed: invalid_dataset: no column 'label'" in done.stderr


def test_cancel_and_download(
    run: Callable[..., Any], caller: Any, make_job: MakeJob, store_artifact: Callable[[bytes], Job],
    tar_gz: Callable[..., bytes], tmp_path: Path,
) -> None:  # fmt: skip
    """Cancel prints the new status; download saves, verifies and unpacks; a bad part file exits 5."""
    queued = make_job(caller.id, status="queued")
    cancelled = run("jobs", "cancel", queued.id)
    assert cancelled.exit_code == 0 and "cancelled" in cancelled.stderr
    job = store_artifact(tar_gz([("m/config.json", b"{}")]))
    out = tmp_path / "m.tar.gz"
    done = run("jobs", "download", job.id, "--out", str(out), "--unpack", str(tmp_path / "m"))
    assert done.exit_code == 0, done.output
    assert "sha256 verified" in done.stderr and (tmp_path / "m" / "m" / "config.json").is_file()
    (tmp_path / "n.tar.gz.part").write_bytes(b"garbage")
    corrupt = run("jobs", "download", job.id, "--out", str(tmp_path / "n.tar.gz"))
    assert corrupt.exit_code == 5 and "checksum-mismatch" in corrupt.stderr


def test_an_unreachable_api_exits_4(caller: Any) -> None:
    """Nothing listens on the URL: one readable line and exit code 4."""
    done = CliRunner().invoke(
        cli, ["jobs", "cancel", "job_x", "--url", "http://127.0.0.1:9", "--api-key", "sk-sec-x"]
    )
    assert done.exit_code == 4 and "Cannot reach the API" in done.stderr


def test_ctrl_c_stops_watching_not_the_job(
    run: Callable[..., Any], caller: Any, make_job: MakeJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interrupting `jobs wait` says the job goes on and how to cancel it, and exits 130."""
    job = make_job(caller.id, status="running")

    def interrupted(*_args: Any, **_kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_client, "follow", interrupted)
    done = run("jobs", "wait", job.id)
    assert done.exit_code == 130 and f"secateur jobs cancel {job.id}" in done.stderr
