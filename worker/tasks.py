"""Thin Celery tasks: all job logic lives in the Celery-free `worker.jobs` and `worker.reconciler`."""

from typing import Any

from worker.celery_app import RECONCILE, RUN_JOB, app


@app.task(name=RUN_JOB)
def run_job_task(job_id: str) -> None:
    """Run one pruning job; imported lazily so the worker's parent process never loads torch."""
    from worker.jobs import detach_stdin, run_job

    # The child inherits the worker's fd 0 (billiard only swaps sys.stdin); a job needs no terminal.
    detach_stdin()
    run_job(job_id)


@app.task(name=RECONCILE)
def reconcile_task() -> dict[str, Any]:
    """Requeue stale or lost jobs and finish overdue cancels."""
    from worker.reconciler import reconcile

    return reconcile().as_dict()
