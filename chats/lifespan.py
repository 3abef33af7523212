"""Lifespan hooks of generations: at start-up repair those a crash left streaming; at shutdown store running ones."""
import asyncio
import contextlib
import logging
from datetime import timedelta

from asgiref.sync import sync_to_async

logger = logging.getLogger("parley.generations")

# With several web processes (a shared channel layer), only generations whose process stopped sending heartbeats
# are repaired; a sweep keeps doing that while the server runs.
SWEEP_SECONDS = 30.0

_sweeper: asyncio.Task | None = None


async def generations_startup() -> None:
    global _sweeper
    from chats.generations import generations_repair, note_server_loop
    from chats.generations.persistence import HEARTBEAT_SECONDS, shared_channel_layer
    from core.db_workers import use_db_workers

    note_server_loop(asyncio.get_running_loop())
    use_db_workers(asyncio.get_running_loop())
    if shared_channel_layer() is None:
        # The embedded configuration is one process: whatever is still streaming was left by its previous life.
        repaired = await sync_to_async(generations_repair)()
    else:
        stale_after = timedelta(seconds=3 * HEARTBEAT_SECONDS)
        repaired = await sync_to_async(generations_repair)(stale_after=stale_after)
        _sweeper = asyncio.get_running_loop().create_task(_sweep(stale_after))
    if repaired:
        logger.warning("Marked %d generation(s) left streaming by a stopped server as interrupted", repaired)


async def _sweep(stale_after: timedelta) -> None:
    from chats.generations import generations_repair

    while True:
        await asyncio.sleep(SWEEP_SECONDS)
        try:
            await sync_to_async(generations_repair)(stale_after=stale_after)
        except Exception:
            logger.exception("Repairing stale generations failed")


async def generations_teardown() -> None:
    global _sweeper
    from chats.generations import close_db_connections, generations_shutdown
    from core.db_workers import use_db_workers

    sweeper, _sweeper = _sweeper, None
    if sweeper is not None:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
    stopped = await generations_shutdown()
    if stopped:
        logger.warning("Stored %d running generation(s) as interrupted at shutdown", stopped)
    use_db_workers(asyncio.get_running_loop(), enabled=False)
    await asyncio.get_running_loop().run_in_executor(None, close_db_connections)
