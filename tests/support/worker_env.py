"""Constants and process-wide state helpers shared by the worker tests and their fixtures."""

from __future__ import annotations

from secateur.kernel import db, storage
from secateur.kernel.settings import get_settings

API_KEY = "sk-sec-worker-tests-0123456789"
# Offline: nothing in these tests may reach a model hub.
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def reset_caches() -> None:
    """Forget the process-wide settings, engine, sessions and storage so new env vars take effect."""
    if db.get_engine.cache_info().currsize:
        db.get_engine().dispose()
    for cached in (get_settings, db.get_engine, db.get_sessionmaker, storage.get_storage):
        cached.cache_clear()
