"""Celery tasks of compare and merge."""
from celery import shared_task


@shared_task(
    name="merging.tasks.run_merge",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=10 * 60,
    time_limit=11 * 60,
    ignore_result=True,
)
def run_merge(job_id: str) -> None:
    """Run a merge job; safe to deliver twice (after a worker died): its result is written once."""
    from merging.services import merge_job_run

    merge_job_run(job_id=job_id)
