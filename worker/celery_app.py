"""The Celery application: a Redis broker, one long GPU job per worker process, and a periodic reconciler.

This module must stay importable without torch: the API and the maintenance workers import it. A GPU
worker's parent imports the engine at `worker_init` (worker/preload.py), never CUDA: a CUDA context
initialised in a parent would be inherited, broken, by every forked child.
"""

import logging
from typing import Any

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger, worker_init, worker_ready

from secateur.kernel.logs import structure
from secateur.kernel.settings import get_settings
from secateur.kernel.vocabulary import (
    DELIVER_WEBHOOK,
    GPU_QUEUE,
    MAINTENANCE_QUEUE,
    RECONCILE,
    RUN_JOB,
    SCORE_CANDIDATE,
    SWEEP_WEBHOOKS,
    WEBHOOK_QUEUE,
)

SWEEP_WEBHOOKS_EVERY_S = 30.0

_settings = get_settings()

app = Celery("secateur", broker=_settings.broker_url, include=["worker.celery_tasks"])

app.conf.update(
    # The database holds every job's state and result; Celery only carries "run job X" messages.
    task_ignore_result=True,
    result_backend=None,
    # Ack only when run_job returns: a worker that dies mid-job leaves its message unacked, so it is
    # redelivered instead of lost. run_job's compare-and-set claim makes a redelivery harmless.
    task_acks_late=True,
    # A child killed mid-job (SIGKILL, OOM killer) gets its message requeued rather than acked as failed.
    task_reject_on_worker_lost=True,
    # A job holds a GPU for hours: a worker must not reserve a second message that another GPU could run.
    worker_prefetch_multiplier=1,
    # One process per GPU: two jobs on one card would fight for its memory.
    worker_concurrency=1,
    # A fresh child per job returns all GPU memory and any state leaked by the previous job.
    worker_max_tasks_per_child=1,
    # Prefork, not threads: the job runs in a child that can be killed (revoke/terminate, time limit)
    # without taking the worker down, and the parent never touches CUDA.
    worker_pool="prefork",
    # GPU jobs go to the `gpu` queue that only GPU workers consume; the cheap reconciler goes elsewhere so
    # it never waits behind an hours-long job.
    # Webhook deliveries get their own queue, so a slow endpoint never delays the reconciler and
    # operators can give deliveries more workers.
    task_routes={
        RUN_JOB: {"queue": GPU_QUEUE},
        # A round's candidates run on the same GPU workers as jobs: an idle one takes the next.
        SCORE_CANDIDATE: {"queue": GPU_QUEUE},
        RECONCILE: {"queue": MAINTENANCE_QUEUE},
        DELIVER_WEBHOOK: {"queue": WEBHOOK_QUEUE},
        SWEEP_WEBHOOKS: {"queue": MAINTENANCE_QUEUE},
    },
    task_default_queue=MAINTENANCE_QUEUE,
    # The hard limit must exceed the longest job; the soft limit comes first so run_job can end the job
    # `failed` with a clear reason instead of the child vanishing.
    task_time_limit=_settings.task_time_limit_s,
    task_soft_time_limit=max(1, _settings.task_time_limit_s - 60),
    # Redis redelivers an unacked message after the visibility timeout. It must exceed the time limit,
    # or a job still running would be handed to a second worker every hour.
    broker_transport_options={"visibility_timeout": _settings.task_time_limit_s + 3600},
    # Retry the broker connection at startup so workers survive Redis starting after them.
    broker_connection_retry_on_startup=True,
    # A pass that no maintenance worker picked up in time is dropped rather than left to pile up.
    beat_schedule={
        "reconcile": {
            "task": RECONCILE,
            "schedule": _settings.reconcile_interval_s,
            "options": {"expires": _settings.reconcile_interval_s},
        },
        # Re-sends webhook deliveries whose message was lost (or never sent while the broker was down).
        "sweep-webhooks": {
            "task": SWEEP_WEBHOOKS,
            "schedule": SWEEP_WEBHOOKS_EVERY_S,
            "options": {"expires": SWEEP_WEBHOOKS_EVERY_S},
        },
    },
)


@after_setup_logger.connect
@after_setup_task_logger.connect
def _structured_logs(logger: logging.Logger, *_args: Any, **_kwargs: Any) -> None:
    """Celery's own log handlers write logfmt lines carrying the job id, like the local runner's."""
    for handler in logger.handlers:
        structure(handler)


@worker_init.connect
def _preload_engine(sender: Any = None, **_kwargs: Any) -> None:
    """A worker of the GPU queue imports the engine before its pool forks, so each job's child starts warm."""
    queues = getattr(getattr(getattr(sender, "app", None), "amqp", None), "queues", None)
    if not get_settings().worker_preload or queues is None or GPU_QUEUE not in queues.consume_from:
        return
    from worker.preload import preload

    _preloaded.append(preload())


_preloaded: list[float] = []  # seconds; logged once the worker's logging is set up (after worker_init)


@worker_ready.connect
def _report_preload(**_kwargs: Any) -> None:
    """Say how long the engine's import took in this worker's parent, if it was preloaded."""
    if _preloaded:
        logging.getLogger(__name__).info("engine preloaded in %.1f s", _preloaded[-1])
