"""Fixtures for the client tests: a succeeded job whose artifact is a real .tar.gz in storage."""

from collections.abc import Callable
from typing import Any

import pytest

from secateur.kernel.models import Job
from secateur.kernel.storage import Storage

RESULT = {
    "layers_removed": 2,
    "removed_layers": [3, 1],
    "kept_layers": [0, 2],
    "score": 0.9,
    "report_score": 0.88,
    "retained_fraction": 0.95,
    "parameters_before": 1000,
    "parameters_after": 600,
    "artifact": {"bytes": None, "sha256": None},
}


@pytest.fixture
def store_artifact(caller: Any, make_job: Callable[..., Job], storage: Storage) -> Callable[[bytes], Job]:
    """A succeeded job of the default caller whose artifact holds `payload`."""

    def _store(payload: bytes) -> Job:
        """Save the payload and point a new succeeded job at it."""
        key = f"artifacts/{len(payload)}-{hash(payload)}.tar.gz"
        size, digest = storage.save_stream(key, [payload])
        return make_job(
            caller.id,
            status="succeeded",
            result=RESULT,
            artifact_key=key,
            artifact_bytes=size,
            artifact_sha256=digest,
        )

    return _store
