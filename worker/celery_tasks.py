"""Thin Celery tasks: all job logic lives in the Celery-free `worker.job_runner` and `worker.reconciler`."""

from typing import Any

from celery import Task

from secateur.kernel.logs import job_context
from secateur.kernel.settings import get_settings
from secateur.kernel.vocabulary import (
    DELIVER_WEBHOOK,
    GPU_QUEUE,
    RECONCILE,
    RUN_JOB,
    SCORE_CANDIDATE,
    SWEEP_WEBHOOKS,
)
from worker.celery_app import app


class CeleryDispatch:
    """A round's candidates as `score_candidate` messages on the GPU queue."""

    def send(self, job_id: str, attempt: int, rnd: int, layer: int) -> str:
        """Publish one candidate; returns the message id."""
        result = app.send_task(SCORE_CANDIDATE, args=[job_id, attempt, rnd, layer], queue=GPU_QUEUE)
        return str(result.id)

    def drop(self, message_ids: list[str]) -> None:
        """Revoke a settled round's messages: a worker discards a revoked one without forking for it."""
        if message_ids:
            app.control.revoke(message_ids)


@app.task(name=RUN_JOB)
def run_job_task(job_id: str) -> None:
    """Run one pruning job; imported lazily so the worker's parent process never loads torch."""
    from worker.job_runner import run_job
    from worker.process import detach_stdin

    # The child inherits the worker's fd 0 (billiard only swaps sys.stdin); a job needs no terminal.
    detach_stdin()
    run_job(job_id, dispatch=CeleryDispatch())


@app.task(name=SCORE_CANDIDATE)
def score_candidate_task(job_id: str, attempt: int, rnd: int, layer: int) -> str:
    """Fine-tune one of a round's candidates (and any other still pending); returns at once when taken."""
    from worker.fanout import score_candidate
    from worker.process import detach_stdin

    detach_stdin()
    with job_context(job_id):
        return score_candidate(job_id, attempt, rnd, layer)


@app.task(name=RECONCILE)
def reconcile_task() -> dict[str, Any]:
    """Requeue stale or lost jobs and finish overdue cancels."""
    from worker.reconciler import reconcile

    return reconcile().as_dict()


# No Celery retry limit: the delivery row counts attempts and gives up at SECATEUR_WEBHOOK_MAX_ATTEMPTS.
@app.task(name=DELIVER_WEBHOOK, bind=True, max_retries=None)
def deliver_webhook_task(self: Task, delivery_id: str) -> None:
    """Make one attempt of a webhook delivery; a failure is retried after an exponential backoff."""
    from secateur.kernel.webhooks.delivery import deliver

    wait = deliver(delivery_id, get_settings())
    if wait is not None:
        raise self.retry(countdown=wait)


@app.task(name=SWEEP_WEBHOOKS)
def sweep_webhooks_task() -> int:
    """Re-send the webhook deliveries whose task message was lost."""
    from worker.webhooks import sweep

    return sweep(get_settings())
