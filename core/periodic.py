"""Periodic jobs of each web process, registered by apps in ready() and run while the ASGI lifespan is up."""
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


def with_periodic_jobs(lifespan_app):
    """Wrap an ASGI lifespan app: the registered jobs start once it has started and stop when it shuts down."""

    async def app(scope, receive, send):
        tasks: list[asyncio.Task] = []

        async def stop_all():
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            tasks.clear()

        async def receive_and_stop():
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await stop_all()
            return message

        async def send_and_start(message):
            if message["type"] == "lifespan.startup.complete":
                tasks.extend(asyncio.create_task(_run_forever(job), name=f"periodic-{job.name}")
                             for job in _jobs.values())
            await send(message)

        try:
            await lifespan_app(scope, receive_and_stop, send_and_start)
        finally:
            await stop_all()

    return app
