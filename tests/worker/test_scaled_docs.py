"""docs/operations.md's scaled mode, run exactly as written: migrations, two API replicas, Celery."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.client import SecateurClient
from tests.support.serve_process import free_port
from tests.support.services import empty_postgres_database
from tests.support.worker_env import API_KEY, OFFLINE
from tests.support.worker_helpers import submit, upload, wait_for

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[2]


def documented_block() -> str:
    """The bash block between the scaled:start and scaled:end markers."""
    doc = (ROOT / "docs" / "operations.md").read_text()
    match = re.search(r"<!-- scaled:start.*?-->\s*```bash\n(.*?)```\s*<!-- scaled:end -->", doc, re.S)
    assert match, "docs/operations.md has no scaled:start/scaled:end block"
    return match.group(1)


@pytest.fixture
def empty_postgres() -> Iterator[str]:
    """A brand-new database with no tables: the documented migration step must create them."""
    with empty_postgres_database("secateur_scaled") as url:
        yield url


def _ready(url: str, deadline_s: float, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait for `url` to answer 200 while the documented commands still run."""
    import time

    deadline = time.monotonic() + deadline_s
    while True:
        assert process.poll() is None, log.read_text()[-4000:]
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, log.read_text()[-4000:]
        time.sleep(0.5)


def test_the_documented_scaled_mode_runs_a_job(
    empty_postgres: str,
    broker_url: str,
    tmp_path: Path,
    model_archive: Path,
    dataset_files: tuple[Path, Path],
) -> None:
    """A job submitted to one replica runs on the Celery worker and is read back from the other."""
    ports = [free_port(), free_port()]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECATEUR_")}
    env.update(
        OFFLINE,
        SECATEUR_DATABASE_URL=empty_postgres,
        SECATEUR_BROKER_URL=broker_url,
        SECATEUR_DATA_DIR=str(tmp_path / "shared"),
        SECATEUR_BOOTSTRAP_API_KEY=API_KEY,
        SECATEUR_DEVICE="cpu",
        SECATEUR_HEARTBEAT_S="0.5",
        API_PORT_1=str(ports[0]),
        API_PORT_2=str(ports[1]),
        OMP_NUM_THREADS="1",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(ROOT),
    )
    log = tmp_path / "scaled.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["bash", "-euc", documented_block()], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        first, second = (f"http://127.0.0.1:{port}" for port in ports)
        for base in (first, second):
            _ready(f"{base}/readyz", 120, process, log)
        with SecateurClient(first, API_KEY, timeout=30) as one:
            train, validation = dataset_files
            model = upload(one, model_archive, "model")
            job_id = submit(
                one, model, train=upload(one, train, "dataset"), validation=upload(one, validation, "dataset")
            )
        with SecateurClient(second, API_KEY, timeout=30) as two:
            job = wait_for(two, job_id, ("succeeded",), timeout_s=300)
            assert job.result is not None and job.result.layers_removed >= 1
        assert 'secateur_jobs{status="succeeded"} 1.0' in httpx.get(f"{second}/metrics", timeout=30).text
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
