"""`python -m bench.chaos`: kill -9 or SIGSTOP the worker, restart Redis or PostgreSQL, fill the disk.

Each scenario runs a reference job first (uninterrupted, same seed), then `--kills` trials: submit,
wait a random time into the job, hurt the worker, and check that the job still succeeds, that every
round is recorded once and that the result equals the reference; `disk-full` instead runs `--kills`
jobs to the end on a full artifacts filesystem (bench/chaos/disk_full.py). It prints a table and
writes one JSON per scenario and stack under bench/results/reliability/.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from bench.chaos import postgres
from bench.chaos.client import (
    TERMINAL,
    candidate_events,
    client,
    inputs,
    job,
    outcome,
    submit,
    upload_all,
    wait,
)
from bench.chaos.disk_full import FullArtifacts, run_disk_full
from bench.chaos.stacks import CeleryStack, ServeStack, Stack
from bench.stack import postgres_database

RESULTS = Path(__file__).resolve().parent.parent / "results" / "reliability"
# Each action hurts the stack mid-job; what it returns (figures of its own) joins the trial's record.
ACTIONS: dict[str, Callable[[Stack, httpx.Client, str], dict[str, Any] | None]] = {
    "kill-worker": lambda stack, _api, job_id: stack.kill_worker(job_id),
    "hang-worker": lambda stack, _api, job_id: stack.hang_worker(job_id),
    "restart-redis": lambda stack, _api, _job_id: stack.restart_redis(),  # type: ignore[attr-defined]
    "restart-postgres": lambda stack, api, job_id: postgres.restart(_server(stack), api, job_id),
}
SCENARIOS = (*ACTIONS, "disk-full")
CELERY_ONLY = ("restart-redis",)  # the embedded stack has no broker
EXPECTED = {
    "kill-worker": "resumed and succeeded, every round recorded once, result equal to the reference",
    "hang-worker": "heartbeat goes stale, the job is taken over and succeeds, rounds recorded once",
    "restart-redis": "no job lost or run twice at once: it succeeds, every round recorded once",
    "restart-postgres": "503 problem+json with Retry-After while down (never a 500), recovers on its own, "
    "the job succeeds with every round recorded once",
}


def _server(stack: Stack) -> postgres.PrivatePostgres:
    """The private PostgreSQL server behind a stack started for the restart scenario."""
    server = getattr(stack, "postgres", None)
    if not isinstance(server, postgres.PrivatePostgres):
        raise RuntimeError("restart-postgres needs a stack on a private PostgreSQL server")
    return server


cli = typer.Typer(add_completion=False, help=__doc__)


def run_scenario(
    stack: Stack, scenario: str, *, uploads: tuple[str, str, str], kills: int, rng: random.Random
) -> dict[str, Any]:
    """The reference job, then `kills` interrupted ones."""
    with client(stack.base) as api:
        reference_id = submit(api, uploads)
        wait(api, reference_id, ("running",), 300)
        started = time.monotonic()
        wait(api, reference_id, ("succeeded",), 600)
        reference_s = time.monotonic() - started
        reference = outcome(api, reference_id, None)
        if reference["status"] != "succeeded":
            raise RuntimeError(f"the reference job did not succeed: {reference}")
        candidates = len(candidate_events(api, reference_id))
        trials = []
        for _ in range(kills):
            job_id = submit(api, uploads)
            # A random point of the job, counted from its start: a job still queued has nothing to hurt.
            wait(api, job_id, ("running",), 300)
            # A random point: after a random number of candidates, and a random part of the next one.
            # The last round's candidates stay ahead, or the job may end before it is hit.
            after = rng.randrange(0, max(1, candidates - 2))
            delay = rng.uniform(0.0, 0.5) * reference_s / (candidates + 1)
            while len(candidate_events(api, job_id)) < after and job(api, job_id)["status"] not in TERMINAL:
                time.sleep(0.25)  # two requests a poll: the per-key rate limit is 600 a minute
            time.sleep(delay)
            before = job(api, job_id)
            interrupted = before["status"] == "running"
            hit_at = time.monotonic()
            figures = (ACTIONS[scenario](stack, api, job_id) or {}) if interrupted else {}
            wait(api, job_id, ("succeeded",), 600)
            trial = {"after_candidates": after, "delay_s": round(delay, 1),
                     "round_at_interruption": before["progress"]["round"],
                     "seconds_to_end_after_hit": round(time.monotonic() - hit_at, 1)}  # fmt: skip
            trials.append(
                trial | {"interrupted": interrupted} | figures | outcome(api, job_id, reference["result"])
            )
    ok = [t for t in trials if t["interrupted"]]
    extra = {"restart": postgres.summary(trials)} if scenario == "restart-postgres" else {}
    return extra | {
        "scenario": scenario,
        "stack": stack.name,
        "expected": EXPECTED[scenario],
        "reference": reference | {"seconds": round(reference_s, 1)},
        "trials": trials,
        "summary": {
            "trials": len(trials),
            "interrupted": len(ok),
            "succeeded": sum(t["status"] == "succeeded" for t in ok),
            "rounds_once": sum(t["rounds_once"] for t in ok),
            "equal_to_reference": sum(bool(t["equal_to_reference"]) for t in ok),
            "resumed": sum(t["attempts"] >= 2 for t in ok),
        },
    }


def line(result: dict[str, Any]) -> str:
    """One table row (and the scenario's own figures)."""
    if "disk" in result:
        d = result["disk"]
        return (f"{result['scenario']:14} {result['stack']:7} {d['trials']} jobs: {d['failed_storage_full']} "
                f"storage_full, {d['attempted_once']} tried once, {d['artifact_not_served']} artifact not "
                f"served, {d['no_leftovers']} without leftovers")  # fmt: skip
    s = result["summary"]
    row = (
        f"{result['scenario']:14} {result['stack']:7} {s['interrupted']:>3}/{s['trials']:<3} "
        f"{s['succeeded']:>9} {s['resumed']:>7} {s['rounds_once']:>11} {s['equal_to_reference']:>9}"
    )
    if "restart" in result:
        r = result["restart"]
        row += (f"\n  while down: {r['polls_while_down']} polls, {r['answered_503_problem']} answered 503 "
                f"problem+json with Retry-After, {r['answered_other']} anything else; recovered "
                f"{r['recovered']}, at most {r['recover_s_max']} s after the restart")  # fmt: skip
    return row


@cli.command()
def main(
    kills: Annotated[int, typer.Option(help="Interrupted jobs per scenario (20 for the full run).")] = 3,
    stacks: Annotated[str, typer.Option(help="Comma-separated: serve, celery.")] = "serve,celery",
    scenarios: Annotated[str, typer.Option(help=f"Comma-separated: {', '.join(SCENARIOS)}.")] = ",".join(
        SCENARIOS
    ),
    seed: Annotated[int, typer.Option(help="Seeds the random interruption points.")] = 0,
    out: Annotated[Path, typer.Option(help="Where the JSON goes.")] = RESULTS,
) -> None:
    """Run every scenario on every stack it applies to."""
    rng = random.Random(seed)
    defaults = {"--stacks": "serve,celery", "--scenarios": ",".join(SCENARIOS)}
    given = {"--stacks": stacks, "--scenarios": scenarios}
    arguments = " ".join(f"{k} {v}" for k, v in given.items() if v != defaults[k]) + f" --kills {kills}"
    arguments += f" --seed {seed}" if seed else ""
    out.mkdir(parents=True, exist_ok=True)
    print(f"{'scenario':14} {'stack':7} {'hit':>7} {'succeeded':>9} {'resumed':>7} {'rounds once':>11} "
          f"{'= ref':>9}", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="secateur-chaos-") as tmp:
        scratch = Path(tmp)
        files = inputs(scratch / "inputs")
        for stack_name in stacks.split(","):
            for scenario in scenarios.split(","):
                if scenario not in SCENARIOS:
                    raise typer.BadParameter(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
                if scenario in CELERY_ONLY and stack_name != "celery":
                    continue
                with ExitStack() as cleanup:
                    work = scratch / f"{stack_name}-{scenario}"
                    work.mkdir()
                    full = server = None
                    if scenario == "disk-full":
                        full = FullArtifacts(work / "data", work / "full-disk.log")
                        cleanup.callback(full.stop)
                    if scenario == "restart-postgres":
                        # A server of its own to stop: never the shared one other processes use.
                        server = postgres.PrivatePostgres()
                        cleanup.callback(server.close)
                    wrapper = full.wrap if full else None
                    if stack_name == "serve":
                        stack: Stack = ServeStack(work, wrapper=wrapper, postgres=server)
                    else:
                        url = server.url if server else cleanup.enter_context(postgres_database())
                        stack = CeleryStack(work, url, postgres=server, wrapper=wrapper)
                    cleanup.callback(stack.stop)
                    with client(stack.base) as api:
                        uploads = upload_all(api, files)
                    if full is not None:
                        result = run_disk_full(stack, full, uploads, kills)
                    else:
                        result = run_scenario(stack, scenario, uploads=uploads, kills=kills, rng=rng)
                result |= {"command": f"make chaos CHAOS_ARGS='{arguments}'",
                           "date": datetime.now(UTC).date().isoformat()}  # fmt: skip
                print(line(result), flush=True)
                (out / f"{scenario}-{stack_name}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    cli()
