"""docs/reliability.md is rendered from the scripts' JSON: each figure, command and date appears."""

import json
from pathlib import Path

from bench.reliability_report import render


def _write(path: Path, record: dict[str, object]) -> None:
    """One JSON record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def test_every_scenario_appears_with_its_command_figure_and_date(tmp_path: Path) -> None:
    """Load, fuzz and chaos records each become a section of the page."""
    figures = {"rps": 400.0, "p50_ms": 2.5, "p99_ms": 9.0, "statuses": {"200": 10}, "server_cpu_us": 900}
    bare = {"rps": 800.0, "p50_ms": 1.0, "p99_ms": 3.0, "statuses": {"200": 10}}
    _write(tmp_path / "load" / "sqlite.json", {
        "backend": "sqlite", "date": "2026-01-02", "command": "make load", "cpus": 2,
        "training_stand_in": "a CPU hog",
        "settings": {"concurrency": 16, "seconds": 5, "rate": 200},
        "conditions": {"training": {"bare": {"closed": bare, "open": bare},
                                    "GET /v1/jobs/{id}": {"closed": figures, "open": figures}}},
        "submissions": {"same_key": {"requests": 100, "statuses": {"201": 1, "200": 99}, "jobs_created": 1,
                                     "duplicates": 0, "server_errors": 0}},
    })  # fmt: skip
    _write(tmp_path / "reliability" / "fuzz.json", {
        "scenario": "fuzz", "command": "make fuzz", "date": "2026-01-03", "cases": 1234, "failures": {},
        "checks": ["not_a_server_error"], "server_tracebacks": 0, "seconds": 50,
    })  # fmt: skip
    _write(tmp_path / "reliability" / "kill-worker-celery.json", {
        "scenario": "kill-worker", "stack": "celery", "expected": "resumed", "date": "2026-01-04",
        "command": "make chaos CHAOS_ARGS='--kills 3'",
        "summary": {"trials": 3, "interrupted": 3, "succeeded": 3, "resumed": 3, "rounds_once": 3,
                    "equal_to_reference": 2},
    })  # fmt: skip

    page = render(tmp_path)
    assert "### sqlite (2026-01-02, `make load`)" in page
    assert "| training | `GET /v1/jobs/{id}` | 400 | 50% | 2.5 | 9.0 | 900 |" in page
    assert "1 jobs created, 0 duplicates, 0 5xx" in page
    assert "2026-01-03, `make fuzz`: 1234 generated cases" in page
    assert "| kill-worker | celery | 3 of 3 | 3/3 | 3/3 | 3/3 | 2/3 | resumed | 2026-01-04 |" in page


def test_a_missing_measurement_says_so(tmp_path: Path) -> None:
    """No JSON yet: each section says it was not measured, rather than vanishing."""
    assert render(tmp_path).count("Not measured yet.") == 3


def test_the_restart_and_disk_full_figures_appear_with_their_dates(tmp_path: Path) -> None:
    """The PostgreSQL restart's 503 counts and recovery, and the disk-full outcome, each get a line."""
    summary = {"trials": 3, "interrupted": 3, "succeeded": 3, "resumed": 3, "rounds_once": 3,
               "equal_to_reference": 3}  # fmt: skip
    _write(tmp_path / "reliability" / "restart-postgres-celery.json", {
        "scenario": "restart-postgres", "stack": "celery", "expected": "503 while down", "date": "2026-01-05",
        "command": "make chaos CHAOS_ARGS='--scenarios restart-postgres --kills 3'", "summary": summary,
        "restart": {"polls_while_down": 70, "answered_503_problem": 69, "answered_other": 1, "recovered": 3,
                    "recover_s_max": 0.4},
    })  # fmt: skip
    _write(tmp_path / "reliability" / "disk-full-serve.json", {
        "scenario": "disk-full", "stack": "serve", "expected": "storage_full", "date": "2026-01-06",
        "command": "make chaos CHAOS_ARGS='--scenarios disk-full'", "simulated": "a full tmpfs",
        "trials": [{"error": {"code": "storage_full"}}, {"error": {"code": "internal_error"}}],
        "disk": {"trials": 2, "failed_storage_full": 1, "attempted_once": 2, "artifact_not_served": 2,
                 "no_leftovers": 2},
    })  # fmt: skip

    page = render(tmp_path)
    assert "| restart-postgres | celery | 3 of 3 | 3/3 |" in page
    assert "70 polls of `GET /v1/jobs/{id}` while PostgreSQL was down, 69 answered 503" in page
    assert "1 anything else; the API answered 200 again at most 0.4 s after the restart" in page
    assert "Simulated: a full tmpfs. Expected: storage_full." in page
    assert (
        "| serve | 2 | 1/2 | internal_error, storage_full | 2/2 | 2/2 | 2/2 | 2026-01-06 | "
        "`make chaos CHAOS_ARGS='--scenarios disk-full'` |"
    ) in page
