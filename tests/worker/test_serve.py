"""`secateur serve` on SQLite with the local runner: a job end to end, then a clean Ctrl-C."""

from __future__ import annotations

from pathlib import Path

from serve_process import Serve
from worker_helpers import check_artifact, check_resumed, submit, upload, wait_for, wait_for_round_checkpoint


def test_serve_runs_jobs_on_sqlite_and_resumes_them_after_a_restart(
    tmp_path: Path, model_archive: Path, dataset_files: tuple[Path, Path]
) -> None:
    """No Redis, no PostgreSQL: a job end to end; Ctrl-C mid-job requeues it and the next start resumes it."""
    data_dir = tmp_path / "data"
    serve = Serve(tmp_path, data_dir)
    with serve as api:
        assert (data_dir / "api-key").read_text().strip() == serve.key
        assert (data_dir / "api-key").stat().st_mode & 0o777 == 0o600
        assert (data_dir / "secateur.db").is_file()
        train, validation = dataset_files
        files = [
            upload(api, model_archive, "model"),
            upload(api, train, "dataset"),
            upload(api, validation, "dataset"),
        ]
        job = wait_for(api, submit(api, *files), ("succeeded",), timeout_s=180)
        assert job.result is not None and job.result.layers_removed == 3
        check_artifact(api, job, tmp_path / "pruned")

        slow = submit(api, *files, candidate_epochs=6)
        wait_for_round_checkpoint(api, slow, timeout_s=120)
        serve.stop()

    restarted = Serve(tmp_path, data_dir)
    with restarted as api:
        assert restarted.key == serve.key  # the generated key is kept and reused
        resumed = wait_for(api, slow, ("succeeded",), timeout_s=180)
        assert resumed.result is not None and resumed.result.layers_removed == 3
        check_resumed(api, slow)
        restarted.stop()
