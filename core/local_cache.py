"""Per-process caches of hot look-ups (API tokens, provider routes), cleared in every process when their data change.

A change calls ``invalidate(name)``: the cache is cleared here at once and, over the shared channel layer, in every
other process that listens (web processes, from their lifespan start-up). A process that cannot hear invalidations
(several processes, no listener running) does not cache at all, so nothing stale is ever served; entries also
expire after their ``ttl`` as a backstop.
"""
import asyncio
import contextlib
import logging
import threading
import time

from asgiref.sync import async_to_sync

logger = logging.getLogger("parley.cache")

GROUP = "parley.invalidate"
_caches: dict[str, "LocalCache"] = {}
_listener: asyncio.Task | None = None
_hearing = threading.Event()  # set while this process hears invalidations from the others


class LocalCache:
    """A dict of key → (expiry, value); None is never a cached value."""

    def __init__(self, name: str, *, ttl: float = 60.0, max_entries: int = 10_000):
        self.name, self.ttl, self.max_entries = name, ttl, max_entries
        self._data: dict = {}
        _caches[name] = self

    def get(self, key):
        entry = self._data.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def set(self, key, value) -> None:
        if not caching_enabled():
            return
        if len(self._data) >= self.max_entries:
            self._data.clear()
        self._data[key] = (time.monotonic() + self.ttl, value)

    def clear(self) -> None:
        self._data.clear()


def _shared_layer():
    from channels.layers import InMemoryChannelLayer, get_channel_layer

    layer = get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return None
    return layer


def caching_enabled() -> bool:
    """One process (no shared channel layer), or one that hears the others' invalidations."""
    return _hearing.is_set() or _shared_layer() is None


def clear_all() -> None:
    for cache in _caches.values():
        cache.clear()


def invalidate(name: str) -> None:
    """Clear the cache `name` in this process now and in every listening process (safe from sync or async code);
    inside a transaction, once more after it commits (a read in between may have cached the old rows)."""
    from django.db import transaction

    _invalidate_now(name)
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: _invalidate_now(name))


def _invalidate_now(name: str) -> None:
    cache = _caches.get(name)
    if cache is not None:
        cache.clear()
    layer = _shared_layer()
    if layer is None:
        return
    message = {"type": "cache.invalidate", "name": name}
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    try:
        if loop is not None:
            loop.create_task(layer.group_send(GROUP, message))
        else:
            async_to_sync(layer.group_send)(GROUP, message)
    except Exception:
        # The other processes may now serve an entry up to its ttl old; say so rather than fail the write.
        logger.warning("Could not publish the invalidation of %s to other processes", name)


async def _listen(layer) -> None:
    while True:
        channel = None
        try:
            channel = await layer.new_channel("parley.cache.")
            await layer.group_add(GROUP, channel)
            clear_all()  # whatever changed while not listening
            _hearing.set()
            while True:
                message = await layer.receive(channel)
                cache = _caches.get(message.get("name"))
                if cache is not None:
                    cache.clear()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("Cache invalidation listener lost the channel layer; not caching until it is back")
        finally:
            _hearing.clear()
            clear_all()
            if channel is not None:
                with contextlib.suppress(Exception):
                    await layer.group_discard(GROUP, channel)
        await asyncio.sleep(1.0)


async def start_listening() -> None:
    """Lifespan start-up hook: hear the other processes' invalidations (with a shared channel layer)."""
    global _listener
    layer = _shared_layer()
    if layer is not None and (_listener is None or _listener.done()):
        _listener = asyncio.get_running_loop().create_task(_listen(layer))


async def stop_listening() -> None:
    global _listener
    listener, _listener = _listener, None
    if listener is not None:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener


def _on_setting_changed(**kwargs) -> None:
    clear_all()  # tests override provider settings; a cached route would ignore them
