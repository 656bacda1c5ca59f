"""`python -m bench.fuzz`: Schemathesis over the live API's OpenAPI schema, authenticated.

It starts the real API (uvicorn, SQLite), uploads a model and a dataset and submits a job so that
the operations taking an id reach their real logic instead of a 404, then runs `st run` with the
checks `not_a_server_error` and `response_schema_conformance`, prints Schemathesis's summary and
writes bench/results/reliability/fuzz.json.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from bench.stack import API_KEY, free_port, service_env, uvicorn, wait_ready
from secateur.kernel.migrate import upgrade_to_head

RESULTS = Path(__file__).parent / "results" / "reliability"
CHECKS = "not_a_server_error,response_schema_conformance"

cli = typer.Typer(add_completion=False, help=__doc__)


def _model_archive() -> bytes:
    """A .tar.gz that passes the upload checks (config.json and a .safetensors file)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, payload in (("config.json", b'{"model_type": "bert"}'), ("model.safetensors", b"\0" * 64)):
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def seed(base: str) -> dict[str, str]:
    """Real ids for the path parameters: an uploaded dataset and a queued job on uploaded files."""
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30) as client:

        def upload(purpose: str, name: str, content: bytes) -> str:
            """One upload's id."""
            response = client.post("/v1/files", files={"file": (name, content)}, data={"purpose": purpose})
            response.raise_for_status()
            return str(response.json()["id"])

        model = upload("model", "model.tar.gz", _model_archive())
        dataset = upload("dataset", "train.csv", b"text,label\nnice film,1\nbad film,0\n")
        task = {"type": "classification", "train_file": dataset, "validation_file": dataset}
        job = client.post("/v1/jobs", json={"model": model, "task": task, "retention": 0.9})
        job.raise_for_status()
        return {"path.job_id": job.json()["id"], "path.file_id": dataset}


def config(parameters: dict[str, str]) -> str:
    """schemathesis.toml: the bearer key on every request and the seeded ids."""
    lines = ["[headers]", f'Authorization = "Bearer {API_KEY}"', "", "[parameters]"]
    lines += [f'"{name}" = "{value}"' for name, value in parameters.items()]
    return "\n".join(lines) + "\n"


def summary(output: str) -> dict[str, Any]:
    """The case count and failures from Schemathesis's summary."""
    generated = re.search(r"(\d+) generated", output)
    failures = dict(re.findall(r"❌ (ST\d+ [^:\n]+): (\d+)", output))
    return {
        "cases": int(generated.group(1)) if generated else 0,
        "failures": {name: int(n) for name, n in failures.items()},
        "seed": (re.search(r"Seed: (\d+)", output) or [None, None])[1],
    }


@cli.command()
def main(
    max_examples: Annotated[int, typer.Option(help="Examples per operation in the fuzzing phase.")] = 150,
    seed_value: Annotated[int | None, typer.Option("--seed", help="Replay an earlier run's seed.")] = None,
    out: Annotated[Path, typer.Option(help="Where fuzz.json goes.")] = RESULTS,
) -> None:
    """Fuzz the live API and record the figures."""
    with tempfile.TemporaryDirectory(prefix="secateur-fuzz-") as tmp:
        scratch = Path(tmp)
        url = f"sqlite:///{scratch / 'fuzz.db'}"
        upgrade_to_head(url)
        port = free_port()
        api = uvicorn(
            "app.main:app", port, service_env(url, scratch, SECATEUR_QUEUE="local"), scratch / "api.log"
        )
        api.start()
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(f"{base}/healthz")
            (scratch / "schemathesis.toml").write_text(config(seed(base)))
            command = [
                str(Path(sys.executable).with_name("st")),
                "--config-file", str(scratch / "schemathesis.toml"),
                "run", f"{base}/openapi.json", "--checks", CHECKS, "--max-examples", str(max_examples),
                "--continue-on-failure", "--phases", "examples,coverage,fuzzing", "--workers", "1",
            ]  # fmt: skip
            if seed_value is not None:
                command += ["--seed", str(seed_value)]
            started = time.monotonic()
            # In the scratch folder, so Schemathesis's cache stays out of the checkout.
            done = subprocess.run(command, capture_output=True, text=True, cwd=scratch)
            seconds = time.monotonic() - started
        finally:
            api.stop()
        log = (scratch / "api.log").read_text()
        if "Traceback" in log:
            out.mkdir(parents=True, exist_ok=True)
            (out / "fuzz-api.log").write_text(log)
    print(done.stdout[-6000:], flush=True)
    result = {
        "scenario": "fuzz",
        "command": "make fuzz",
        "date": datetime.now(UTC).date().isoformat(),
        "checks": CHECKS.split(","),
        "max_examples": max_examples,
        **summary(done.stdout),
        "server_tracebacks": log.count("Traceback"),
        "seconds": round(seconds, 1),
        "passed": done.returncode == 0,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "fuzz.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("cases", "failures", "server_tracebacks", "passed")}))
    raise typer.Exit(0 if result["passed"] else 1)


if __name__ == "__main__":
    cli()
