"""Service settings, read from the environment with the SECATEUR_ prefix."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything an operator can set; defaults give the embedded SQLite + local-runner setup."""

    model_config = SettingsConfigDict(env_prefix="SECATEUR_", env_file=".env", extra="ignore")

    # Storage and database. The embedded default keeps everything under ./data.
    data_dir: Path = Path("data")
    database_url: str = ""  # empty: sqlite:///<data_dir>/secateur.db
    storage: Literal["local", "s3"] = "local"
    s3_bucket: str = ""
    s3_endpoint_url: str | None = None
    s3_prefix: str = ""
    presign_seconds: int = 300

    # Queue: "celery" sends to Redis; "local" leaves queued jobs in the database for the local runner.
    queue: Literal["celery", "local"] = "local"
    broker_url: str = "redis://127.0.0.1:6379/0"
    task_time_limit_s: int = 48 * 3600
    heartbeat_s: float = 15.0
    stale_after_s: float = 300.0
    lost_queued_after_s: float = 600.0
    max_attempts: int = 3
    cancel_grace_s: float = 30.0
    reconcile_interval_s: float = 60.0  # how often beat / the local runner looks for stale jobs
    # Celery only: share each round's candidate fine-tunes out over every idle worker (the local
    # runner always runs them one after another).
    candidate_fanout: bool = True
    # A worker that helped with a round waits this long for the job's next one (while no job is
    # queued), keeping the loaded data instead of loading it again in a fresh process.
    candidate_linger_s: float = 60.0
    # Celery GPU workers import torch, transformers and the engine once in the parent process, so each
    # job's and helper's fresh child starts warm (see worker/preload.py for why that is fork-safe).
    worker_preload: bool = True

    # Uploads.
    max_model_upload_bytes: int = 4 * 1024**3
    max_dataset_upload_bytes: int = 512 * 1024**2
    max_unpacked_bytes: int = 8 * 1024**3
    max_archive_entries: int = 10_000
    max_unpack_ratio: float = 100.0  # unpacked / packed bytes of a model archive
    upload_concurrency: int = 16  # uploads written to storage at once (their own threads)
    archive_check_concurrency: int = 2  # archive checks running at once in the API process

    # Model bounds, checked at upload and again by the worker before it allocates anything.
    model_max_vocab_size: int = 250_000
    model_max_hidden_size: int = 4096
    model_max_layers: int = 48
    model_max_intermediate_size: int = 16_384
    model_max_position_embeddings: int = 8192

    # HTTP server (secateur serve; the compose file passes the same values to uvicorn).
    max_header_bytes: int = 64 * 1024
    body_read_timeout_s: float = 30.0  # longest wait for the next chunk of a request body
    keep_alive_timeout_s: int = 5
    max_concurrent_connections: int = 512

    # Database pool (PostgreSQL; SQLite uses the same numbers).
    db_pool_size: int = 10
    db_max_overflow: int = 10
    db_pool_timeout_s: float = 5.0
    retry_after_s: int = 5  # Retry-After on a 503 when the database is busy or down

    # Rate limits (the `limits` library's notation); storage "memory://" is per process.
    rate_limit_per_key: str = "600/minute"
    rate_limit_failed_auth: str = "30/minute"
    rate_limit_storage_url: str = "memory://"

    # Auth.
    bootstrap_api_key: str | None = None

    # Webhooks. Delivery happens on the worker side; the API only records what is to be sent.
    webhook_allow_private: bool = False  # True lets endpoints resolve to loopback/private addresses
    webhook_timeout_s: float = 10.0  # per attempt, connect and read together
    webhook_max_attempts: int = 8  # per delivery, the first try included
    webhook_retry_base_s: float = 5.0  # the wait after the first failure; doubled after each next one
    webhook_retry_max_s: float = 3600.0
    webhook_disable_after: int = 15  # consecutive failed attempts before an endpoint is disabled
    webhook_poll_s: float = 1.0  # how often the local runner's delivery loop looks for due deliveries

    # Worker.
    device: str | None = None  # "cuda", "cpu", ...; None picks CUDA when present
    shared_dir: Path = Path("../shared")  # real GLUE/CoNLL data for tests and benchmarks
    task_data_dir: Path | None = None  # local copies of the built-in tasks' data; None: the hub
    latency_runs: int = 5  # timed forward passes of the full and pruned model (median); 0 skips
    # Each job's kept depths may take this much storage; beyond it the oldest are dropped, never the last.
    max_depth_artifacts_bytes: int = 4 * 1024**3
    # Hub ids a job may name: exact ids or `org/*`; empty allows any id the hub (or its cache) serves.
    allowed_hub_models: list[str] = []
    # A longer dataset row (a line, or a CoNLL sentence) fails the job before anything is tokenised.
    max_dataset_row_bytes: int = 64 * 1024

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL, defaulting to SQLite inside the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'secateur.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
