"""The API process stays light: no torch, transformers or worker code; OpenAPI renders."""

import json
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, sys
import app.main
heavy = sorted({name.split('.')[0] for name in sys.modules} & {'torch', 'transformers', 'datasets', 'worker'})
print(json.dumps(heavy))
"""


def test_importing_the_app_does_not_import_torch_or_transformers() -> None:
    """A fresh interpreter importing app.main loads no torch, transformers, datasets or worker code."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_openapi_lists_every_route(client: TestClient) -> None:
    """The OpenAPI schema has every route and /docs renders."""
    schema = client.get("/openapi.json").json()
    assert {
        "/v1/files",
        "/v1/files/{file_id}",
        "/v1/jobs",
        "/v1/jobs/{job_id}",
        "/v1/jobs/{job_id}/rounds",
        "/v1/jobs/{job_id}/events",
        "/v1/jobs/{job_id}/cancel",
        "/v1/jobs/{job_id}/artifact",
        "/healthz",
        "/readyz",
    } <= schema["paths"].keys()
    assert client.get("/docs").status_code == 200
