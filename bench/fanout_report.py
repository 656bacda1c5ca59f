"""What `bench.fanout` reads back from a run: each round's candidate phase and every helper's start-up."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from secateur.kernel.models import CandidateRun

# `fanout helper ready: round=1 sweep=0.01 imports=4.10 ... total=6.20` (worker/fanout.py logs it).
_LINE = re.compile(r"fanout (helper ready|round): round=(\d+) ((?:\w+=[\d.]+ ?)+)")


def candidate_phases(conn: Connection, job_id: str) -> list[dict[str, Any]]:
    """Per round, from the candidate rows: the candidate phase's wall time and each worker's share.

    The phase runs from the rows' creation (the start model is published by then) to the last score.
    A worker's `first_start_s` is when its first candidate began (finished minus its seconds), after
    the rows were created: for a helper, the time it needed before it could start (queue, fork,
    imports, data, start model).
    """
    rows = conn.execute(
        select(
            CandidateRun.round,
            CandidateRun.worker,
            CandidateRun.seconds,
            CandidateRun.created_at,
            CandidateRun.finished_at,
        ).where(CandidateRun.job_id == job_id)
    ).all()
    by_round: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        by_round[row.round].append(row)
    phases = []
    for rnd, members in sorted(by_round.items()):
        created: datetime = min(r.created_at for r in members)
        finished: datetime = max(r.finished_at for r in members)
        workers: dict[str, dict[str, Any]] = {}
        for r in sorted(members, key=lambda r: r.finished_at):
            began = (r.finished_at - created).total_seconds() - r.seconds
            share = workers.setdefault(r.worker, {"candidates": 0, "busy_s": 0.0, "first_start_s": began})
            share["candidates"] += 1
            share["busy_s"] += r.seconds
            share["first_start_s"] = min(share["first_start_s"], began)
        phases.append(
            {
                "round": rnd,
                "candidates_seconds": (finished - created).total_seconds(),
                "workers": list(workers.values()),
            }
        )
    return phases


def logged_phases(logs: list[Path]) -> dict[str, list[dict[str, Any]]]:
    """The `fanout helper ready` and `fanout round` lines of the workers' logs, as numbers."""
    found: dict[str, list[dict[str, Any]]] = {"helper": [], "job": []}
    for path in logs:
        for match in _LINE.finditer(path.read_text(errors="replace")):
            kind, rnd, pairs = match.groups()
            entry: dict[str, Any] = {"round": int(rnd)}
            entry.update({k: float(v) for k, v in (p.split("=") for p in pairs.split())})
            found["helper" if kind == "helper ready" else "job"].append(entry)
    return found


def ratios(one: dict[str, Any], two: dict[str, Any]) -> dict[str, Any]:
    """Two workers' times over one worker's: per round (whole round and candidate phase) and the job."""
    rounds = []
    for a, b, pa, pb in zip(one["rounds"], two["rounds"], one["candidates"], two["candidates"], strict=True):
        rounds.append(
            {
                "round": a["round"],
                "round_s": [a["seconds"], b["seconds"]],
                "round_ratio": b["seconds"] / a["seconds"],
                "candidates_s": [pa["candidates_seconds"], pb["candidates_seconds"]],
                "candidates_ratio": pb["candidates_seconds"] / pa["candidates_seconds"],
            }
        )
    total = [sum(r["round_s"][i] for r in rounds) for i in (0, 1)]
    phase = [sum(r["candidates_s"][i] for r in rounds) for i in (0, 1)]
    return {
        "rounds": rounds,
        "all_rounds_ratio": total[1] / total[0],
        "all_candidates_ratio": phase[1] / phase[0],
        "job_ratio": two["job_seconds"] / one["job_seconds"],
    }


def table(summary: dict[str, Any]) -> str:
    """The ratios as a small text table."""
    lines = ["round  round 1w/2w (s)   ratio  candidates 1w/2w (s)  ratio"]
    for r in summary["rounds"]:
        (a, b), (c, d) = r["round_s"], r["candidates_s"]
        lines.append(
            f"{r['round']:5d}  {a:7.1f} {b:7.1f}  {r['round_ratio']:6.2f}"
            f"  {c:9.1f} {d:9.1f}  {r['candidates_ratio']:6.2f}"
        )
    lines.append(
        f"all rounds {summary['all_rounds_ratio']:.2f}; candidate phases"
        f" {summary['all_candidates_ratio']:.2f}; whole job {summary['job_ratio']:.2f}"
    )
    return "\n".join(lines)
