"""`python -m bench.reliability_report`: render docs/reliability.md from the load, fuzz and chaos JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from bench.plan import REPO

RESULTS = REPO / "bench" / "results"
DOC = REPO / "docs" / "reliability.md"

cli = typer.Typer(add_completion=False, help=__doc__)


def _load(folder: Path) -> list[dict[str, Any]]:
    """Every JSON record in `folder`, by file name."""
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []


def _row(cells: list[object]) -> str:
    """One Markdown table row."""
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _non_2xx(*samples: dict[str, Any]) -> int:
    """Answers other than 2xx (and connection errors) in these samples."""
    return sum(n for x in samples for k, n in x["statuses"].items() if k[0] != "2") + sum(
        x.get("errors", 0) for x in samples
    )


def load_section(records: list[dict[str, Any]]) -> list[str]:
    """The API's speed against bare FastAPI, per database backend."""
    out = ["## Speed: `make load`", ""]
    if not records:
        return [*out, "Not measured yet.", ""]
    for r in records:
        s = r["settings"]
        out += [
            f"### {r['backend']} ({r['date']}, `{r['command']}`)",
            "",
            f"{r['cpus']} CPUs; closed loop: {s['concurrency']} connections for {s['seconds']:g} s "
            f'(wrk when installed); open loop: {s["rate"]:g} req/s. "Training" is '
            f"{r['training_stand_in']}. CPU µs is the server's CPU time per request.",
            "",
            _row(
                [
                    "condition",
                    "endpoint",
                    "req/s",
                    "% of bare",
                    "p50 ms",
                    "p99 ms",
                    "CPU µs",
                    f"p50 ms at {s['rate']:g}/s",
                    f"p99 ms at {s['rate']:g}/s",
                    "non-2xx",
                ]
            ),
            _row(["---"] * 10),
        ]
        for condition, targets in r["conditions"].items():
            bare = targets["bare"]["closed"]["rps"] or 1.0
            for name, f in targets.items():
                c, o = f["closed"], f["open"]
                out.append(_row([condition, f"`{name}`", f"{c['rps']:.0f}", f"{100 * c['rps'] / bare:.0f}%",
                                 c["p50_ms"], c["p99_ms"], c.get("server_cpu_us", "n/a"),
                                 o["p50_ms"], o["p99_ms"], _non_2xx(c, o)]))  # fmt: skip
        out.append("")
        for mode, f in r["submissions"].items():
            out.append(
                f"- {f['requests']} concurrent `POST /v1/jobs`, {mode.replace('_', ' ')}: statuses "
                f"{f['statuses']}, {f['jobs_created']} jobs created, {f['duplicates']} duplicates, "
                f"{f['server_errors']} 5xx."
            )
        out.append("")
    return out


def fuzz_section(records: list[dict[str, Any]]) -> list[str]:
    """The Schemathesis figures."""
    out = ["## Garbage input: `make fuzz`", ""]
    for r in records:
        if r.get("scenario") != "fuzz":
            continue
        failures = ", ".join(f"{k}: {v}" for k, v in r["failures"].items()) or "none"
        out += [
            f"{r['date']}, `{r['command']}`: {r['cases']} generated cases over the OpenAPI schema with the "
            f"checks {', '.join(f'`{c}`' for c in r['checks'])}; failures: {failures}; server "
            f"tracebacks: {r['server_tracebacks']}; {r['seconds']:g} s.",
            "",
        ]
    return out if len(out) > 2 else [*out, "Not measured yet.", ""]


def chaos_section(records: list[dict[str, Any]]) -> list[str]:
    """One row per chaos scenario and stack."""
    rows = [r for r in records if "summary" in r and "stack" in r]
    out = ["## Crashes: `make chaos`", ""]
    if not rows:
        return [*out, "Not measured yet.", ""]
    out += [
        _row(
            [
                "scenario",
                "stack",
                "interrupted",
                "succeeded",
                "resumed",
                "rounds once",
                "= reference",
                "expected",
                "date",
                "command",
            ]
        ),
        _row(["---"] * 10),
    ]
    for r in rows:
        s = r["summary"]
        n = s["interrupted"]
        out.append(_row([r["scenario"], r["stack"], f"{n} of {s['trials']}", f"{s['succeeded']}/{n}",
                         f"{s['resumed']}/{n}", f"{s['rounds_once']}/{n}", f"{s['equal_to_reference']}/{n}",
                         r["expected"], r["date"], f"`{r['command']}`"]))  # fmt: skip
    out.append("")
    for r in rows:
        if "restart" in r:
            x = r["restart"]
            out.append(
                f"- {r['scenario']} ({r['stack']}, {r['date']}): {x['polls_while_down']} polls of "
                f"`GET /v1/jobs/{{id}}` while PostgreSQL was down, {x['answered_503_problem']} answered 503 "
                f"problem+json with Retry-After, {x['answered_other']} anything else; the API answered 200 "
                f"again at most {x['recover_s_max']} s after the restart ({x['recovered']} of "
                f"{r['summary']['interrupted']} recovered)."
            )
    if out[-1]:
        out.append("")
    return [*out, *disk_section(records)]


def disk_section(records: list[dict[str, Any]]) -> list[str]:
    """The disk-full scenario, one row per stack: what failed, with which code, what was served after."""
    rows = [r for r in records if "disk" in r]
    if not rows:
        return []
    out = [
        "### Disk full at artifact upload",
        "",
        f"Simulated: {rows[0]['simulated']}. Expected: {rows[0]['expected']}. Jobs alternately keep every "
        "depth and only the final model.",
        "",
        _row(["stack", "jobs", "failed `storage_full`", "codes seen", "tried once",
              "artifact answered 404/409", "no file left under `artifacts/`", "date", "command"]),
        _row(["---"] * 9),
    ]  # fmt: skip
    for r in rows:
        d, n = r["disk"], r["disk"]["trials"]
        codes = ", ".join(sorted({str((t.get("error") or {}).get("code")) for t in r["trials"]}))
        out.append(_row([r["stack"], n, f"{d['failed_storage_full']}/{n}", codes,
                         f"{d['attempted_once']}/{n}", f"{d['artifact_not_served']}/{n}",
                         f"{d['no_leftovers']}/{n}", r["date"], f"`{r['command']}`"]))  # fmt: skip
    return [*out, ""]


def render(results: Path) -> str:
    """The whole page."""
    reliability = _load(results / "reliability")
    lines = [
        "# Reliability and speed",
        "",
        "Rendered by `python -m bench.reliability_report` from `bench/results/load/` and "
        "`bench/results/reliability/`; rerun `make load`, `make fuzz` or `make chaos` to refresh it.",
        "",
        *load_section(_load(results / "load")),
        *fuzz_section(reliability),
        *chaos_section(reliability),
    ]
    return "\n".join(lines).rstrip() + "\n"


@cli.command()
def main(
    results: Annotated[Path, typer.Option(help="The results folder.")] = RESULTS,
    out: Annotated[Path, typer.Option(help="The page to write.")] = DOC,
) -> None:
    """Write docs/reliability.md."""
    out.write_text(render(results))
    print(f"wrote {out}")


if __name__ == "__main__":
    cli()
