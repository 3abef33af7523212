"""ASGI lifespan: each app registers its own start-up and shutdown hooks (in its AppConfig.ready), run in order."""
import asyncio
import logging
import signal
import threading
from collections.abc import Awaitable, Callable

from core.periodic import start_periodic_jobs, stop_periodic_jobs

logger = logging.getLogger("parley.lifespan")

_startup: list[Callable[[], Awaitable[None]]] = []
_shutdown: list[Callable[[], Awaitable[None]]] = []


def on_startup(hook: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    """Run `await hook()` when the server starts (in the order registered); a failure stops the start."""
    if hook not in _startup:
        _startup.append(hook)
    return hook


def on_shutdown(hook: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    """Run `await hook()` when the server stops (in the reverse order registered); failures are logged."""
    if hook not in _shutdown:
        _shutdown.append(hook)
    return hook


_stop_requested: list[Callable[[], Awaitable[None] | None]] = []

# How long the server waits for what the stop hooks end (replies storing their end and telling their clients)
# before it closes its connections; uvicorn closes a WebSocket at once (1012), before the reply could say `done`.
STOP_WAIT_SECONDS = 3.0


def on_stop_requested(hook: Callable[[], Awaitable[None] | None]) -> Callable[[], Awaitable[None] | None]:
    """Call `hook()` (synchronous, on the server's loop) as soon as the server is told to stop (SIGTERM, SIGINT),
    before it waits for open connections to end: what streams to a client can end now, not when uvicorn's
    graceful-shutdown timeout cuts it. A hook may return an awaitable: the server closes its connections once it
    is done (at most STOP_WAIT_SECONDS later). The shutdown hooks still run after the connections have closed."""
    if hook not in _stop_requested:
        _stop_requested.append(hook)
    return hook


def _run_stop_requested() -> list[Awaitable[None]]:
    waits = []
    for hook in _stop_requested:
        try:
            if (wait := hook()) is not None:
                waits.append(wait)
        except Exception:
            logger.exception("Stop hook %s failed", getattr(hook, "__qualname__", hook))
    return waits


def _chain_stop_signals(loop: asyncio.AbstractEventLoop) -> None:
    """Wrap the server's own SIGTERM/SIGINT handlers (uvicorn installs them before the lifespan starts, and puts
    its own back when it stops) so the stop hooks run first, and the server's handler once they are done. A second
    signal goes to the server's handler at once. Only in the main thread, where signals are handled."""
    if threading.current_thread() is not threading.main_thread():
        return
    stopping = False

    def stop(previous, signum, frame) -> None:
        waits = _run_stop_requested()

        async def then_stop():
            try:
                await asyncio.wait([asyncio.ensure_future(wait) for wait in waits], timeout=STOP_WAIT_SECONDS)
            finally:
                previous(signum, frame)

        if waits:
            loop.create_task(then_stop())
        else:
            previous(signum, frame)

    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue  # nobody handles it (a test loop, a server without signals): leave it alone

        def handler(signum, frame, previous=previous):
            nonlocal stopping
            if stopping:
                previous(signum, frame)
                return
            stopping = True
            loop.call_soon_threadsafe(stop, previous, signum, frame)

        signal.signal(sig, handler)


async def lifespan_app(scope, receive, send):
    """The `lifespan` protocol of ASGI (Django's own handler does not speak it): the start-up hooks, then the
    periodic jobs (core.periodic) until shutdown, then the shutdown hooks."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                for hook in _startup:
                    await hook()
            except Exception as exc:
                logger.exception("Start-up failed")
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            start_periodic_jobs()
            _chain_stop_signals(asyncio.get_running_loop())
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await stop_periodic_jobs()
            for hook in reversed(_shutdown):
                try:
                    await hook()
                except Exception:
                    logger.exception("Shutdown hook %s failed", getattr(hook, "__qualname__", hook))
            await send({"type": "lifespan.shutdown.complete"})
            return
