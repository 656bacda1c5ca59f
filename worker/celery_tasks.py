"""Thin Celery tasks: all job logic lives in the Celery-free `worker.job_runner` and `worker.reconciler`."""

from typing import Any

from celery import Task

from secateur.kernel.settings import get_settings
from secateur.kernel.vocabulary import DELIVER_WEBHOOK, RECONCILE, RUN_JOB, SWEEP_WEBHOOKS
from worker.celery_app import app


@app.task(name=RUN_JOB)
def run_job_task(job_id: str) -> None:
    """Run one pruning job; imported lazily so the worker's parent process never loads torch."""
    from worker.job_runner import detach_stdin, run_job

    # The child inherits the worker's fd 0 (billiard only swaps sys.stdin); a job needs no terminal.
    detach_stdin()
    run_job(job_id)


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
