"""ASGI lifespan: at start-up repair generations a crash left streaming; at shutdown store running ones interrupted."""
import asyncio
import contextlib
import logging
from datetime import timedelta

from asgiref.sync import sync_to_async

logger = logging.getLogger("parley.generations")

# With several web processes (a shared channel layer), only generations whose process stopped sending heartbeats
# are repaired; a sweep keeps doing that while the server runs.
SWEEP_SECONDS = 30.0


async def generations_startup() -> asyncio.Task | None:
    from chats.generations import generations_repair, note_server_loop
    from chats.runs import HEARTBEAT_SECONDS, shared_channel_layer, use_db_workers

    note_server_loop(asyncio.get_running_loop())
    use_db_workers(asyncio.get_running_loop())
    if shared_channel_layer() is None:
        # The embedded configuration is one process: whatever is still streaming was left by its previous life.
        repaired = await sync_to_async(generations_repair)()
        sweeper = None
        # Merge jobs run on this process's threads here too: pick up the ones it left unfinished.
        from merging.services import merge_jobs_resume

        await sync_to_async(merge_jobs_resume)()
    else:
        stale_after = timedelta(seconds=3 * HEARTBEAT_SECONDS)
        repaired = await sync_to_async(generations_repair)(stale_after=stale_after)
        sweeper = asyncio.get_running_loop().create_task(_sweep(stale_after))
    if repaired:
        logger.warning("Marked %d generation(s) left streaming by a stopped server as interrupted", repaired)
    return sweeper


async def _sweep(stale_after: timedelta) -> None:
    from chats.generations import generations_repair

    while True:
        await asyncio.sleep(SWEEP_SECONDS)
        try:
            await sync_to_async(generations_repair)(stale_after=stale_after)
        except Exception:
            logger.exception("Repairing stale generations failed")


async def generations_teardown(sweeper: asyncio.Task | None) -> None:
    from chats.generations import generations_shutdown
    from chats.runs import close_db_connections, use_db_workers

    if sweeper is not None:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
    stopped = await generations_shutdown()
    if stopped:
        logger.warning("Stored %d running generation(s) as interrupted at shutdown", stopped)
    use_db_workers(asyncio.get_running_loop(), enabled=False)
    await asyncio.get_running_loop().run_in_executor(None, close_db_connections)


async def lifespan_app(scope, receive, send):
    """The `lifespan` protocol of ASGI (Django's own handler does not speak it)."""
    sweeper = None
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                sweeper = await generations_startup()
            except Exception as exc:
                logger.exception("Start-up failed")
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            try:
                await generations_teardown(sweeper)
            except Exception:
                logger.exception("Shutting generations down failed")
            await send({"type": "lifespan.shutdown.complete"})
            return
