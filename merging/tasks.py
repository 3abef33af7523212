"""Celery tasks of compare and merge."""
from celery import shared_task


@shared_task(
    bind=True,
    name="merging.tasks.run_merge",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=10 * 60,
    time_limit=11 * 60,
    ignore_result=True,
)
def run_merge(self, job_id: str) -> None:
    """Run a merge job; safe to deliver twice (after a worker died): its result is written once."""
    from merging.services import MAX_DELIVERIES, MergeInterrupted, merge_job_run

    try:
        merge_job_run(job_id=job_id)
    except MergeInterrupted as exc:
        # Each retry is another delivery: past MAX_DELIVERIES the job is failed rather than run again.
        raise self.retry(exc=exc, countdown=2, max_retries=MAX_DELIVERIES)


@shared_task(name="merging.tasks.sweep_merges", ignore_result=True)
def sweep_merges() -> int:
    """Beat's copy of the web process's sweep: queue again merges that have no live delivery."""
    from merging.services import merge_jobs_sweep

    return merge_jobs_sweep()
