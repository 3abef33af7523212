"""Persistence of running generations: their events in slices, their text, their end state, and the fan-out.

One persister per event loop writes the events of every dirty run of that loop in one transaction per slice (on a
thread of its own, so the token path never waits for the database), then publishes them to followers in other
processes over the shared channel layer.
"""
import asyncio
import contextvars
import logging
import threading
import time
import uuid

from django.db import IntegrityError, connections, transaction
from django.db.models import Q
from django.utils import timezone

from chats.generations.state import ALL_STORED, RUNS, Run, runs_of
from chats.models import Conversation, Generation, GenerationSlice, GenerationStatus, Message
from core.db_workers import dedicated_thread, with_connection

logger = logging.getLogger("parley.generations")

# Events are persisted and fanned out across processes in slices of this length: a crash loses at most one.
SLICE_SECONDS = 0.04
# Each message's text so far is rewritten this often (a repair rebuilds the rest from the event log).
TEXT_SECONDS = 1.0
# A running generation's process touches its heartbeat this often; a stale one was left behind by a crash.
HEARTBEAT_SECONDS = 10.0
# How often a process reads the stops other processes asked through the database (see running._stop).
STOP_CHECK_SECONDS = 1.0
# While the database is down the slice loop retries every slice but says so once, then at most this often.
OUTAGE_LOG_SECONDS = 30.0


def group_name(generation_id) -> str:
    return f"parley.gen.{uuid.UUID(str(generation_id)).hex}"


def shared_channel_layer():
    """The channel layer if it spans processes (Redis); None for the in-memory layer or none at all."""
    from channels.layers import InMemoryChannelLayer, get_channel_layer

    layer = get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return None
    return layer


# One thread does every write of the slice persister (registered for health, reconnecting like the workers).
_db_executor = dedicated_thread("parley-persist")


def run_db(fn, *args):
    """Run a blocking database function on the persister's thread."""
    return asyncio.get_running_loop().run_in_executor(_db_executor, with_connection, fn, args)


def close_persister_connection() -> None:
    _db_executor.submit(connections.close_all).result()


class Persister:
    """Writes the events of every dirty run of one event loop in one transaction per slice, then fans them out."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.dirty: set[Run] = set()
        self.finals: dict[Run, dict] = {}  # runs whose end state waits to be stored
        self.task: asyncio.Task | None = None
        self.control_task: asyncio.Task | None = None
        self.last_heartbeat = time.monotonic()
        self.last_stop_check = time.monotonic()
        self.last_text_write = time.monotonic()
        self.lock = asyncio.Lock()
        self.failing_since: float | None = None  # when writing started to fail (a database outage), else None
        self.last_failure_log = 0.0
        # Other processes ask this loop's runs to stop (or to publish) through this channel.
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
                if time.monotonic() - self.last_stop_check >= STOP_CHECK_SECONDS:
                    await self._check_stop_requests()
            except Exception:
                self._note_failure()
            # Under load a write takes longer: slices then grow, so writing stays a small share of the time.
            pause = max(SLICE_SECONDS, 2 * (time.monotonic() - started))
            if not self.dirty and not runs_of(self.loop):
                self.task = None
                return

    def _note_failure(self) -> None:
        """Log a failing write once per outage (with its traceback), then a line at most every OUTAGE_LOG_SECONDS."""
        now = time.monotonic()
        if self.failing_since is None:
            self.failing_since = self.last_failure_log = now
            logger.exception("Persisting generation events failed; retrying every slice, quietly, until it works")
        elif now - self.last_failure_log >= OUTAGE_LOG_SECONDS:
            self.last_failure_log = now
            logger.warning("Persisting generation events still fails after %.0f s; retrying",
                           now - self.failing_since)

    async def _db(self, fn, *args):
        """`run_db`; the first success after failures says the outage is over."""
        result = await run_db(fn, *args)
        if self.failing_since is not None:
            logger.warning("Persisting generation events works again after %.0f s",
                           time.monotonic() - self.failing_since)
            self.failing_since = None
        return result

    async def finish(self, run: Run, final: dict) -> bool:
        """Store the end state of `run` with its last events; the ends of runs finishing together share one
        transaction. Returns whether it was stored (else call again: it stays queued)."""
        self.finals[run] = final
        await self.flush()
        return run not in self.finals

    async def flush(self) -> None:
        """Persist pending events (one insert per slice); every TEXT_SECONDS, and for the runs that finished (see
        `finish`), also the text so far of each message, in the same transaction."""
        async with self.lock:
            finals, self.finals = self.finals, {}
            runs, self.dirty = {run for run in self.dirty if run.is_stored}, set()
            runs |= set(finals)
            slices = {run: run.take_pending() for run in runs}
            slices = {run: events for run, events in slices.items() if events or run in finals}
            if not slices:
                return
            write_text = time.monotonic() - self.last_text_write >= TEXT_SECONDS
            text_runs = [run for run in (runs_of(self.loop) if write_text else ())
                         if run.is_stored and run.text_seq < run.seq and run not in finals]
            texts = [run.text_snapshot() for run in text_runs]
            ends = [(*run.text_snapshot(), state, run.lock_key, run.conversation_id) for run, state in finals.items()]
            # Seqs reserved ahead with these slices: followers get no seq a crash could give to another event.
            reservations = {run: upto for run in slices if run not in finals
                            and (upto := run.reservation_wanted()) is not None}
            try:
                gone = await self._db(write_slices, [(run.generation_id, events) for run, events in slices.items()
                                                   if events], texts, ends,
                                    [(run.generation_id, upto) for run, upto in reservations.items()])
            except Exception:
                # Put the events back in front so the next slice retries them in order.
                for run, events in slices.items():
                    run.pending[:0] = events
                    self.dirty.add(run)
                for run, state in finals.items():
                    self.finals.setdefault(run, state)
                raise
            for run, upto in reservations.items():
                run.reserve(upto)
            for run in finals:
                run.reserve(ALL_STORED)  # its whole log is stored: what waited for a reservation goes out
                if run.finished:  # its end waited for the database (see running._finish): now it is stored
                    RUNS.pop(run.generation_id, None)
            if write_text:
                self.last_text_write = time.monotonic()
            for run, text in zip(text_runs, texts, strict=True):
                run.text_seq = text[2]
            for run in slices:
                if run.generation_id in gone:
                    # Its conversation was deleted: stop paying for a reply nobody can keep.
                    run.stop("cancelled")
            await fan_out([(run.generation_id, events) for run, events in slices.items()
                           if events and (run.fan_out or run in finals)])

    async def _check_stop_requests(self) -> None:
        """Stops asked from other processes through the database (one query per loop and check, not per run)."""
        self.last_stop_check = time.monotonic()
        ids = [run.generation_id for run in runs_of(self.loop) if not run.finished]
        if ids:
            for generation_id, reason in await self._db(_stop_requests, ids):
                run = RUNS.get(str(generation_id))
                if run is not None:
                    run.stop(reason)

    async def _heartbeat(self) -> None:
        self.last_heartbeat = time.monotonic()
        ids = [run.generation_id for run in runs_of(self.loop)]
        if ids:
            await self._db(_touch_heartbeats, ids)


_persisters: dict[asyncio.AbstractEventLoop, Persister] = {}
_persisters_lock = threading.Lock()


def persister_for(loop: asyncio.AbstractEventLoop) -> Persister:
    persister = _persisters.get(loop)
    if persister is None:
        with _persisters_lock:
            persister = _persisters.setdefault(loop, Persister(loop))
    return persister


def write_slices(slices, texts, ends, reservations=()) -> set[str]:
    """`_write_slices_once`; a generation deleted meanwhile (its conversation was deleted while it streamed) fails
    the slice insert: its events have nowhere to go, so they are dropped and the others written, instead of the
    whole batch being retried, and failing, in every later slice of this process. Returns the deleted ids."""
    try:
        _write_slices_once(slices, texts, ends, reservations)
        return set()
    except IntegrityError:
        ids = {str(gid) for gid, _events in slices} | {str(end[0]) for end in ends}
        alive = {str(pk) for pk in Generation.objects.filter(pk__in=ids).values_list("pk", flat=True)}
        if alive == ids:
            raise
        logger.info("Dropping events of %d generation(s) deleted while streaming", len(ids - alive))
        _write_slices_once([(gid, events) for gid, events in slices if str(gid) in alive],
                           [text for text in texts if str(text[0]) in alive],
                           [end for end in ends if str(end[0]) in alive],
                           [(gid, upto) for gid, upto in reservations if str(gid) in alive])
        return ids - alive


def _write_slices_once(slices, texts, ends, reservations=()) -> None:
    """One transaction: the new slices; the seqs reserved ahead; the texts so far (batched CASE updates); the end
    states of the runs that finished (their conversations released together)."""
    now = timezone.now()
    with transaction.atomic():
        GenerationSlice.objects.bulk_create([
            GenerationSlice(generation_id=gid, first_seq=events[0]["seq"], last_seq=events[-1]["seq"], events=events)
            for gid, events in slices
        ])
        if reservations:
            Generation.objects.bulk_update([Generation(pk=gid, reserved_seq=upto) for gid, upto in reservations],
                                           ["reserved_seq"], batch_size=250)
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
        alone = Q()  # conversations held by a single reply: released in one statement
        for gid, mid, seq, content, reasoning, final, lock_key, conversation_id in ends:
            ended = {"last_seq": seq + 1, "heartbeat_at": now, **final["generation"]}
            Generation.objects.filter(pk=gid).update(**ended)
            if mid is not None:
                Message.objects.filter(pk=mid).update(content=content, reasoning=reasoning, updated_at=now,
                                                      **final["message"])
            if conversation_id is None:
                continue
            if lock_key == str(gid):
                alone |= Q(pk=conversation_id, active_stream=lock_key)
            else:
                release_conversation(conversation_id=conversation_id, lock_key=lock_key, generation_id=gid)
        if alone.children:
            Conversation.objects.filter(alone).update(active_stream=None)


def release_conversation(*, conversation_id, lock_key, generation_id) -> None:
    """Free the conversation for the next send once no generation holding its lock is still running."""
    still_running = Generation.objects.filter(
        conversation_id=conversation_id, status__in=[GenerationStatus.QUEUED, GenerationStatus.RUNNING]
    ).exclude(pk=generation_id)
    if lock_key != str(generation_id):
        still_running = still_running.filter(group_id=lock_key)
    else:
        still_running = still_running.none()
    if not still_running.exists():
        Conversation.objects.filter(pk=conversation_id, active_stream=lock_key).update(active_stream=None)


def _stop_requests(ids) -> list:
    return list(Generation.objects.filter(pk__in=ids).exclude(stop_requested="").values_list("pk", "stop_requested"))


def _touch_heartbeats(ids) -> None:
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
