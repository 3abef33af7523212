"""ASGI lifespan: each app registers its own start-up and shutdown hooks (in its AppConfig.ready), run in order."""
import logging
from collections.abc import Awaitable, Callable

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


async def lifespan_app(scope, receive, send):
    """The `lifespan` protocol of ASGI (Django's own handler does not speak it)."""
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
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            for hook in reversed(_shutdown):
                try:
                    await hook()
                except Exception:
                    logger.exception("Shutdown hook %s failed", getattr(hook, "__qualname__", hook))
            await send({"type": "lifespan.shutdown.complete"})
            return
