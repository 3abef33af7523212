"""Periodic jobs of each web process, registered by apps in ready(); core.lifespan runs them while it is up."""
import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from channels.db import database_sync_to_async

logger = logging.getLogger("parley.periodic")


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    func: Callable[[], object]  # synchronous; runs on a worker thread
    interval: Callable[[], float]  # seconds until the next run, read each time (settings may change)


_jobs: dict[str, PeriodicJob] = {}


def register_periodic(name: str, func: Callable[[], object], *, interval: Callable[[], float]) -> None:
    _jobs[name] = PeriodicJob(name, func, interval)


async def _run_forever(job: PeriodicJob) -> None:
    # database_sync_to_async: the thread drops connections the database closed before and after each run, which
    # nothing else does for a thread outside the request cycle (see core.db).
    run = database_sync_to_async(job.func, thread_sensitive=False)
    while True:
        await asyncio.sleep(job.interval())
        try:
            await run()
        except Exception:
            logger.exception("Periodic job %s failed; it runs again in %.1fs", job.name, job.interval())


_tasks: list[asyncio.Task] = []


def start_periodic_jobs() -> None:
    """Start every registered job on the running loop (core.lifespan calls this once start-up is complete)."""
    _tasks.extend(asyncio.create_task(_run_forever(job), name=f"periodic-{job.name}") for job in _jobs.values())


async def stop_periodic_jobs() -> None:
    """Cancel the running jobs and wait for them (core.lifespan calls this before the shutdown hooks)."""
    for task in _tasks:
        task.cancel()
    for task in _tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    _tasks.clear()
