"""Merge job events: the channel layer group `merge.<id>` across processes, an in-process hub otherwise.

The events are a live copy of what the job row already holds: while the channel layer (Redis) is down, publishing
is skipped and subscribers hear nothing, so they read the row instead (merging.streams)."""
import asyncio
import contextlib
import logging
import threading
from collections import defaultdict
from contextlib import asynccontextmanager

from channels.layers import InMemoryChannelLayer, get_channel_layer
from redis.exceptions import RedisError

logger = logging.getLogger("parley.merging")

# What a channel layer whose Redis is down or restarting raises.
LAYER_DOWN_ERRORS = (RedisError, OSError)


def group_name(job_id) -> str:
    return f"merge.{job_id}"


def _shared_layer():
    """The channel layer when it reaches other processes (Redis); None for the in-memory one."""
    layer = get_channel_layer()
    # The in-memory layer's queues belong to one event loop; the merge runs on another thread's loop.
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return None
    return layer


class _Hub:
    """Thread-safe fan-out to subscribers' event loops within this process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue]]] = defaultdict(set)

    def add(self, key: str, loop, queue) -> None:
        with self._lock:
            self._subscribers[key].add((loop, queue))

    def discard(self, key: str, loop, queue) -> None:
        with self._lock:
            self._subscribers[key].discard((loop, queue))
            if not self._subscribers[key]:
                del self._subscribers[key]

    def publish(self, key: str, event: dict) -> None:
        with self._lock:
            targets = list(self._subscribers.get(key, ()))
        for loop, queue in targets:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, event)
            except RuntimeError:  # that subscriber's loop has closed
                self.discard(key, loop, queue)


_hub = _Hub()


async def publish(job_id, event: dict) -> None:
    layer = _shared_layer()
    if layer is None:
        _hub.publish(str(job_id), event)
        return
    try:
        await layer.group_send(group_name(job_id), {"type": "merge.event", "event": event})
    except LAYER_DOWN_ERRORS as exc:
        logger.warning("Merge %s: event not broadcast, the channel layer is down (%r)", job_id, exc)


class Subscription:
    def __init__(self, get):
        self._get = get

    async def get(self, wait: float) -> dict | None:
        """The next event, or None after `wait` seconds of silence (or of a channel layer that fails)."""
        try:
            return await asyncio.wait_for(self._get(), wait)
        except TimeoutError:
            return None
        except LAYER_DOWN_ERRORS:
            await asyncio.sleep(wait)
            return None


async def _silence():
    await asyncio.Event().wait()


@asynccontextmanager
async def subscribe(job_id):
    """Receive the job's events published from now on (any process, with the Redis layer)."""
    layer = _shared_layer()
    if layer is None:
        loop, queue, key = asyncio.get_running_loop(), asyncio.Queue(), str(job_id)
        _hub.add(key, loop, queue)
        try:
            yield Subscription(queue.get)
        finally:
            _hub.discard(key, loop, queue)
        return
    try:
        channel = await layer.new_channel()
        await layer.group_add(group_name(job_id), channel)
    except LAYER_DOWN_ERRORS as exc:
        logger.warning("Merge %s: following from the database only, the channel layer is down (%r)", job_id, exc)
        yield Subscription(_silence)
        return

    async def receive():
        return (await layer.receive(channel))["event"]

    try:
        yield Subscription(receive)
    finally:
        with contextlib.suppress(*LAYER_DOWN_ERRORS):
            await layer.group_discard(group_name(job_id), channel)
