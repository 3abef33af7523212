"""In-process machinery of running generations: runs, their subscribers, and the slice persister."""
import asyncio
import contextvars
import functools
import itertools
import logging
import threading
import time
import uuid
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from django.db import DatabaseError, IntegrityError, connections, transaction
from django.utils import timezone

logger = logging.getLogger("parley.generations")

# Events are persisted and fanned out across processes in slices of this length: a crash loses at most one.
SLICE_SECONDS = 0.04
# Each message's text so far is rewritten this often (a repair rebuilds the rest from the event log).
TEXT_SECONDS = 1.0
# A running generation's process touches its heartbeat this often; a stale one was left behind by a crash.
HEARTBEAT_SECONDS = 10.0
# Every run of this process, by generation id (str).
RUNS: dict[str, "Run"] = {}


def _running_loop():
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def group_name(generation_id) -> str:
    return f"parley.gen.{uuid.UUID(str(generation_id)).hex}"


class Subscriber:
    """One follower of a run: collects events pushed to it and wakes the follower once per batch."""

    __slots__ = ("loop", "buffer", "waiter")

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.buffer: list[dict] = []
        self.waiter: asyncio.Future | None = None

    def push(self, event: dict) -> None:
        self.buffer.append(event)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def push_many(self, events: list[dict]) -> None:
        for event in events:
            self.push(event)

    async def next_batch(self, within: float) -> list[dict]:
        """The events that arrived since the last call; [] if none came within `within` seconds."""
        if not self.buffer:
            self.waiter = self.loop.create_future()
            timer = self.loop.call_later(within, _resolve, self.waiter)
            try:
                await self.waiter
            finally:
                timer.cancel()
                self.waiter = None
        batch, self.buffer = self.buffer, []
        return batch


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


@dataclass(eq=False)
class Run:
    """A generation running in this process: its events so far, the text it has, who is watching."""

    generation_id: str
    message_id: str | None
    conversation_id: str | None
    lock_key: str | None
    model: str
    loop: asyncio.AbstractEventLoop | None = None
    accepted_at: float = field(default_factory=time.monotonic)
    events: list[dict] = field(default_factory=list)  # events[i]["seq"] == i + 1
    pending: list[dict] = field(default_factory=list)  # emitted, not yet persisted
    subscribers: set = field(default_factory=set)
    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    task: asyncio.Task | None = None
    stop_reason: str = ""  # "cancelled" or "interrupted" once someone asked it to stop
    finished: bool = False
    # Publish slices on the shared channel layer only once a follower in another process asked for them.
    fan_out: bool = False
    text_seq: int = 0  # the seq up to which the message text in the database is current
    # Resolves True once the generation's rows are committed (its slices can be written), False if refused.
    stored: asyncio.Future | None = None

    def __post_init__(self):
        self.stored = self.loop.create_future() if self.loop is not None else None

    def mark_stored(self, stored: bool) -> None:
        """Say whether the rows exist; safe from any thread."""
        def resolve():
            if not self.stored.done():
                self.stored.set_result(stored)
                if stored and self.pending:
                    persister_for(self.loop).dirty.add(self)

        if _running_loop() is self.loop:
            resolve()
        else:
            self.loop.call_soon_threadsafe(resolve)

    @property
    def is_stored(self) -> bool:
        return self.stored.done() and self.stored.result()

    @property
    def seq(self) -> int:
        return len(self.events)

    def emit(self, event_type: str, fields: dict) -> dict:
        """Give the event the next seq and hand it at once to every subscriber in this process."""
        event = {"type": event_type, "seq": len(self.events) + 1, **fields}
        self.events.append(event)
        self.pending.append(event)
        for subscriber in self.subscribers:
            if subscriber.loop is self.loop:
                subscriber.push(event)
            else:
                subscriber.loop.call_soon_threadsafe(subscriber.push, event)
        if self.is_stored:
            persister_for(self.loop).dirty.add(self)
        return event

    def subscribe(self, subscriber: Subscriber, after: int) -> list[dict]:
        """Attach a subscriber; returns what it missed after `after`. Runs in the run's loop, so nothing slips."""
        self.subscribers.add(subscriber)
        return self.events[after:]

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    def stop(self, reason: str) -> None:
        """Ask the run to end (cancel or shutdown); the provider call is closed by cancelling its task."""
        if self.finished or self.stop_reason:
            return
        self.stop_reason = reason
        if self.task is not None:
            self.task.cancel()

    def take_pending(self) -> list[dict]:
        events, self.pending = self.pending, []
        return events

    def text_snapshot(self) -> tuple[str, str | None, int, str, str]:
        """(generation id, message id, seq, content, reasoning) as of now."""
        return self.generation_id, self.message_id, self.seq, "".join(self.content), "".join(self.reasoning)


# One thread does every write of the slice persister, so the token path never waits for the database.
_db_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parley-persist")


def run_db(fn, *args):
    """Run a blocking database function on the persister's thread."""
    return asyncio.get_running_loop().run_in_executor(_db_executor, _with_connection, fn, args)


def _with_connection(fn, args):
    # The persister keeps its connection (a new one per slice would cost more than the slice); after a database
    # error it drops it, so the next call reconnects.
    try:
        return fn(*args)
    except DatabaseError:
        connections.close_all()
        raise


# Database work of streaming requests runs on a few long-lived threads of ours, not on the per-request thread
# asgiref gives each request (a streaming one keeps it, and a fresh connection, for as long as it streams).
DB_WORKERS = 4
_db_workers = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"parley-db{i}") for i in range(DB_WORKERS)]
_db_turn = itertools.count()


# Loops of an ASGI server that ran our lifespan start-up: only there are the worker threads used. Elsewhere (the
# Django test client, a server without lifespan) sync_to_async keeps Django's own thread and transaction rules.
_server_loops: "weakref.WeakSet[asyncio.AbstractEventLoop]" = weakref.WeakSet()


def use_db_workers(loop: asyncio.AbstractEventLoop, enabled: bool = True) -> None:
    if enabled:
        _server_loops.add(loop)
    else:
        _server_loops.discard(loop)


async def db_call(fn, *args, **kwargs):
    """Run blocking database code for a streaming request, on one of the engine's worker threads in a server."""
    call = functools.partial(fn, **kwargs) if kwargs else fn
    loop = asyncio.get_running_loop()
    if loop not in _server_loops:
        return await sync_to_async(call)(*args)
    worker = _db_workers[next(_db_turn) % DB_WORKERS]
    return await loop.run_in_executor(worker, _with_connection, call, args)


def close_db_connections() -> None:
    """Close the connections of the persister and worker threads (server shutdown, end of a test)."""
    for executor in (_db_executor, *_db_workers):
        executor.submit(connections.close_all).result()


class Persister:
    """Writes the events of every dirty run of one event loop in one transaction per slice, then fans them out."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.dirty: set[Run] = set()
        self.task: asyncio.Task | None = None
        self.control_task: asyncio.Task | None = None
        self.last_heartbeat = time.monotonic()
        self.last_text_write = time.monotonic()
        self.lock = asyncio.Lock()
        # Other processes ask this loop's runs to stop through this channel (see chats.generations.generation_cancel).
        self.runner = f"parley.runner.{uuid.uuid4().hex}"

    def ensure_running(self) -> None:
        """Start the slice loop (and the stop listener, with a shared channel layer); call in this loop."""
        if self.task is None or self.task.done():
            self.task = self.loop.create_task(self._loop(), context=contextvars.Context())
        if (self.control_task is None or self.control_task.done()) and shared_channel_layer() is not None:
            self.control_task = self.loop.create_task(self._listen_for_stops(), context=contextvars.Context())

    async def _listen_for_stops(self) -> None:
        layer = shared_channel_layer()
        while True:
            try:
                message = await layer.receive(self.runner)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("Stop listener lost the channel layer; retrying")
                await asyncio.sleep(1)
                continue
            run = RUNS.get(str(message.get("generation_id")))
            if run is None or run.loop is not self.loop:
                continue
            if message.get("type") == "generation.follow":
                run.fan_out = True
            else:
                run.stop(message.get("reason") or "cancelled")

    async def _loop(self) -> None:
        pause = SLICE_SECONDS
        while True:
            await asyncio.sleep(pause)
            started = time.monotonic()
            try:
                await self.flush()
                if time.monotonic() - self.last_heartbeat >= HEARTBEAT_SECONDS:
                    await self._heartbeat()
            except Exception:
                logger.exception("Persisting generation events failed; retrying in the next slice")
            # Under load a write takes longer: slices then grow, so writing stays a small share of the time.
            pause = max(SLICE_SECONDS, 2 * (time.monotonic() - started))
            if not self.dirty and not any(run.loop is self.loop for run in RUNS.values()):
                self.task = None
                return

    async def flush(self, final: tuple[Run, dict] | None = None) -> None:
        """Persist pending events (one insert per slice); every TEXT_SECONDS, and with `final` (the end state of
        one run), also the text so far of each message, in the same transaction."""
        async with self.lock:
            runs, self.dirty = {run for run in self.dirty if run.is_stored}, set()
            final_run, final_state = final if final is not None else (None, None)
            if final_run is not None:
                runs.add(final_run)
            slices = {run: run.take_pending() for run in runs}
            slices = {run: events for run, events in slices.items() if events or run is final_run}
            if not slices:
                return
            write_text = time.monotonic() - self.last_text_write >= TEXT_SECONDS
            text_runs = [run for run in (RUNS_OF(self.loop) if write_text else ())
                         if run.is_stored and run.text_seq < run.seq and run is not final_run]
            texts = [run.text_snapshot() for run in text_runs]
            end = None
            if final_run is not None:
                end = (*final_run.text_snapshot(), final_state, final_run.lock_key, final_run.conversation_id)
            try:
                gone = await run_db(_write_slices, [(run.generation_id, events) for run, events in slices.items()
                                                    if events], texts, end)
            except Exception:
                # Put the events back in front so the next slice retries them in order.
                for run, events in slices.items():
                    run.pending[:0] = events
                    self.dirty.add(run)
                raise
            if write_text:
                self.last_text_write = time.monotonic()
            for run, text in zip(text_runs, texts, strict=True):
                run.text_seq = text[2]
            for run in slices:
                if run.generation_id in gone:
                    # Its conversation was deleted: stop paying for a reply nobody can keep.
                    run.stop("cancelled")
            await fan_out([(run.generation_id, events) for run, events in slices.items()
                           if events and (run.fan_out or run is final_run)])

    async def _heartbeat(self) -> None:
        self.last_heartbeat = time.monotonic()
        ids = [run.generation_id for run in RUNS.values() if run.loop is self.loop]
        if ids:
            await run_db(_touch_heartbeats, ids)


_persisters: dict[asyncio.AbstractEventLoop, Persister] = {}
_persisters_lock = threading.Lock()


def RUNS_OF(loop) -> list["Run"]:  # noqa: N802 - reads like the RUNS registry it filters
    return [run for run in list(RUNS.values()) if run.loop is loop]


def persister_for(loop: asyncio.AbstractEventLoop) -> Persister:
    persister = _persisters.get(loop)
    if persister is None:
        with _persisters_lock:
            persister = _persisters.setdefault(loop, Persister(loop))
    return persister


def _write_slices(slices, texts, end) -> set[str]:
    """`_write_slices_once`; a generation deleted meanwhile (its conversation was deleted while it streamed) fails
    the slice insert: its events have nowhere to go, so they are dropped and the others written, instead of the
    whole batch being retried, and failing, in every later slice of this process. Returns the deleted ids."""
    try:
        _write_slices_once(slices, texts, end)
        return set()
    except IntegrityError:
        from chats.models import Generation

        ids = {str(gid) for gid, _events in slices} | ({str(end[0])} if end is not None else set())
        alive = {str(pk) for pk in Generation.objects.filter(pk__in=ids).values_list("pk", flat=True)}
        if alive == ids:
            raise
        logger.info("Dropping events of %d generation(s) deleted while streaming", len(ids - alive))
        _write_slices_once([(gid, events) for gid, events in slices if str(gid) in alive],
                           [text for text in texts if str(text[0]) in alive],
                           end if end is not None and str(end[0]) in alive else None)
        return ids - alive


def _write_slices_once(slices, texts, end) -> None:
    """One transaction: the new slices; the texts so far (batched CASE updates); the end state of one run."""
    from chats.models import Conversation, Generation, GenerationSlice, Message

    now = timezone.now()
    with transaction.atomic():
        GenerationSlice.objects.bulk_create([
            GenerationSlice(generation_id=gid, first_seq=events[0]["seq"], last_seq=events[-1]["seq"], events=events)
            for gid, events in slices
        ])
        if texts:
            Generation.objects.bulk_update(
                [Generation(pk=gid, last_seq=seq, heartbeat_at=now) for gid, _mid, seq, _c, _r in texts],
                ["last_seq", "heartbeat_at"], batch_size=250,
            )
            Message.objects.bulk_update(
                [Message(pk=mid, content=content, reasoning=reasoning, updated_at=now)
                 for _gid, mid, _seq, content, reasoning in texts if mid is not None],
                ["content", "reasoning", "updated_at"], batch_size=250,
            )
        if end is not None:
            gid, mid, seq, content, reasoning, final, lock_key, conversation_id = end
            Generation.objects.filter(pk=gid).update(last_seq=seq + 1, heartbeat_at=now, **final["generation"])
            if mid is not None:
                Message.objects.filter(pk=mid).update(content=content, reasoning=reasoning, updated_at=now,
                                                      **final["message"])
            if conversation_id is not None:
                release_conversation(conversation_id=conversation_id, lock_key=lock_key, generation_id=gid,
                                     conversation_model=Conversation, generation_model=Generation)


def release_conversation(*, conversation_id, lock_key, generation_id, conversation_model, generation_model) -> None:
    """Free the conversation for the next send once no generation holding its lock is still running."""
    from chats.models import GenerationStatus

    still_running = generation_model.objects.filter(
        conversation_id=conversation_id, status__in=[GenerationStatus.QUEUED, GenerationStatus.RUNNING]
    ).exclude(pk=generation_id)
    if lock_key != str(generation_id):
        still_running = still_running.filter(group_id=lock_key)
    else:
        still_running = still_running.none()
    if not still_running.exists():
        conversation_model.objects.filter(pk=conversation_id, active_stream=lock_key).update(active_stream=None)


def _touch_heartbeats(ids) -> None:
    from chats.models import Generation

    Generation.objects.filter(pk__in=ids).update(heartbeat_at=timezone.now())


async def fan_out(items: list[tuple[str, list[dict]]]) -> None:
    """Publish persisted slices to other processes (only a shared channel layer reaches them)."""
    layer = shared_channel_layer()
    if layer is None:
        return
    for generation_id, events in items:
        try:
            await layer.group_send(group_name(generation_id), {"type": "generation.slice", "events": events})
        except Exception:
            # Followers elsewhere catch up from the database when the channel layer is unreachable.
            logger.warning("Could not publish generation %s events to the channel layer", generation_id)


def shared_channel_layer():
    """The channel layer if it spans processes (Redis); None for the in-memory layer or none at all."""
    from channels.layers import InMemoryChannelLayer, get_channel_layer

    layer = get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return None
    return layer
