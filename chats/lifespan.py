"""Lifespan hooks of generations: at start-up repair those a crash left streaming; at shutdown store running ones."""
import asyncio
import logging
from datetime import timedelta

from asgiref.sync import sync_to_async

logger = logging.getLogger("parley.generations")

# With several web processes (a shared channel layer), only generations whose process stopped sending heartbeats
# are repaired; a sweep (a core.periodic job, so its thread reconnects after a database restart) keeps doing that
# while the server runs.
SWEEP_SECONDS = 30.0


def _stale_after() -> timedelta:
    from chats.generations.persistence import HEARTBEAT_SECONDS

    return timedelta(seconds=3 * HEARTBEAT_SECONDS)


async def generations_startup() -> None:
    from chats.generations import generations_repair, note_server_loop
    from chats.generations.persistence import shared_channel_layer
    from core.db_workers import use_db_workers

    note_server_loop(asyncio.get_running_loop())
    use_db_workers(asyncio.get_running_loop())
    if shared_channel_layer() is None:
        # The embedded configuration is one process: whatever is still streaming was left by its previous life.
        repaired = await sync_to_async(generations_repair)()
    else:
        repaired = await sync_to_async(generations_repair)(stale_after=_stale_after())
    if repaired:
        logger.warning("Marked %d generation(s) left streaming by a stopped server as interrupted", repaired)


def generations_sweep() -> int:
    """The periodic job: with several processes, repair the generations of those that stopped sending heartbeats
    (in the embedded configuration start-up did it all)."""
    from chats.generations import generations_repair
    from chats.generations.persistence import shared_channel_layer

    if shared_channel_layer() is None:
        return 0
    return generations_repair(stale_after=_stale_after())


def generations_stop_requested():
    """The server was told to stop: end this process's replies now (`interrupted`, their text so far stored), so
    each client following one gets its `done` and the connection closes before the graceful-shutdown timeout.
    Returns what to await before the server closes its connections (the replies' ends), or None."""
    from chats.generations.state import RUNS
    from chats.models import GenerationStatus

    runs = [run for run in list(RUNS.values()) if run.loop is not None]
    for run in runs:
        run.loop.call_soon_threadsafe(run.stop, GenerationStatus.INTERRUPTED)
    if not runs:
        return None

    async def ended():
        current = asyncio.get_running_loop()
        tasks = [run.task if run.loop is current else
                 asyncio.wrap_future(asyncio.run_coroutine_threadsafe(asyncio.wait([run.task]), run.loop))
                 for run in runs if run.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0.05)  # their followers' last frames leave before the sockets close

    return ended()


async def generations_teardown() -> None:
    from chats.generations import close_db_connections, generations_shutdown
    from core.db_workers import use_db_workers

    stopped = await generations_shutdown()
    if stopped:
        logger.warning("Stored %d running generation(s) as interrupted at shutdown", stopped)
    use_db_workers(asyncio.get_running_loop(), enabled=False)
    await asyncio.get_running_loop().run_in_executor(None, close_db_connections)
