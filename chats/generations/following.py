"""Following a generation: from its run when it runs in this process, else from the event log and the live slices."""
import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from chats.generations.persistence import group_name, shared_channel_layer
from chats.generations.running import note_server_loop
from chats.generations.state import RUNS, Run, Subscriber
from chats.models import Generation, GenerationSlice, Message
from chats.selectors import generation_logged_events, generation_logged_events_or_over, generation_runner
from core import events
from core.db_workers import db_call
from core.events import TERMINAL

logger = logging.getLogger("parley.generations")


async def generation_event_batches(generation_id, *, after: int = 0,
                                   idle_timeout: float = 15.0) -> AsyncIterator[list[dict]]:
    """Batches of events after `after` (see the package docstring); `[]` after `idle_timeout` s of silence."""
    loop = asyncio.get_running_loop()
    note_server_loop(loop)
    run = RUNS.get(str(generation_id))
    if run is not None:
        source = _follow_local(run, after, idle_timeout, loop)
    else:
        source = _follow_persisted(str(generation_id), after, idle_timeout)
    async with contextlib.aclosing(source) as batches:
        async for batch in batches:
            yield batch


async def generation_events(generation_id, *, after: int = 0) -> AsyncIterator[dict]:
    """Every event after `after`, replayed then live, ending with `done` (see the package docstring)."""
    async with contextlib.aclosing(generation_event_batches(generation_id, after=after, idle_timeout=60.0)) as batches:
        async for batch in batches:
            for event in batch:
                yield event


async def _subscribe_in_run_loop(run: Run, subscriber: Subscriber, after: int) -> list[dict]:
    return run.subscribe(subscriber, after)


async def _follow_local(run: Run, after: int, idle_timeout: float, loop) -> AsyncIterator[list[dict]]:
    subscriber = Subscriber(loop)
    if run.loop is loop:
        batch = run.subscribe(subscriber, after)
    else:
        batch = await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(_subscribe_in_run_loop(run, subscriber, after), run.loop)
        )
    try:
        while True:
            yield batch
            if batch and batch[-1]["type"] == TERMINAL:
                return
            batch = await subscriber.next_batch(idle_timeout)
    finally:
        if run.loop is loop:
            run.unsubscribe(subscriber)
        else:
            run.loop.call_soon_threadsafe(run.unsubscribe, subscriber)


async def _follow_persisted(generation_id: str, after: int, idle_timeout: float) -> AsyncIterator[list[dict]]:
    """Follow a generation running in another process (or already over): subscribe to its slices on the shared
    channel layer and ask its process to publish them, then replay the database log, then live slices. Seqs
    already seen are skipped; a gap (slices persisted before the runner started publishing) is filled from the
    database, which always has every published slice."""
    layer = shared_channel_layer()
    loop = asyncio.get_running_loop()
    subscriber = Subscriber(loop)
    pump = None
    channel = None
    if layer is not None:
        try:
            channel = await layer.new_channel("parley.follow.")
            await layer.group_add(group_name(generation_id), channel)
        except Exception:
            # Redis is down: nobody can be heard from, but the database log has every slice (polled below).
            logger.warning("Following generation %s from the database: the channel layer is unreachable",
                           generation_id)
            layer = channel = None
    if layer is not None:

        async def pump_slices():
            while True:
                message = await layer.receive(channel)
                subscriber.push_many(message.get("events") or [])

        pump = loop.create_task(pump_slices())
        runner = await db_call(generation_runner, generation_id)
        if runner:
            # Ask the process running it to publish its slices (it does not, unless someone elsewhere listens).
            with contextlib.suppress(Exception):
                await layer.send(runner, {"type": "generation.follow", "generation_id": generation_id})

    def poll_seconds() -> float:
        # Without a live layer (none, or Redis lost meanwhile) there is nobody to hear from: poll the log, which
        # is written every slice.
        return 5.0 if pump is not None and not pump.done() else 0.25
    last = after
    quiet_since = time.monotonic()
    try:
        batch, over = await db_call(generation_logged_events_or_over, generation_id, after=last)
        if not batch and over:
            # Nothing after `after`: a client past the end of the log gets what is stored and the end.
            if tail := await db_call(past_the_end, generation_id, after):
                yield tail
            return
        while True:
            if batch:
                snapshot = None
                if batch[0]["seq"] > last + 1:
                    batch = await db_call(generation_logged_events, generation_id, after=last)
                    if batch and batch[0]["seq"] > last + 1:
                        snapshot = await db_call(gap_snapshot, generation_id, last)
                fresh = [event for event in batch if event["seq"] > last]
                if fresh:
                    last = fresh[-1]["seq"]
                    quiet_since = time.monotonic()
                    yield [snapshot, *fresh] if snapshot else fresh
                    if fresh[-1]["type"] == TERMINAL:
                        return
            elif time.monotonic() - quiet_since >= idle_timeout:
                quiet_since = time.monotonic()
                yield []
            batch = await subscriber.next_batch(min(poll_seconds(), idle_timeout))
            if not batch:
                batch, over = await db_call(generation_logged_events_or_over, generation_id, after=last)
                if not batch and over:
                    # Over (or gone) with nothing after `last`: a client that already saw the end gets no
                    # repeat and no endless pings.
                    return
    finally:
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump
        if channel is not None:
            with contextlib.suppress(Exception):
                await layer.group_discard(group_name(generation_id), channel)


# --- a client past the stored log (a crash lost the last seqs it saw; SPEC §12) ---------------------------------------


def _stored_text(generation_id) -> dict | None:
    message_id = Generation.objects.filter(pk=generation_id).values_list("message_id", flat=True).first()
    text = Message.objects.filter(pk=message_id).values("content", "reasoning").first() if message_id else None
    return events.snapshot(content=text["content"], reasoning=text["reasoning"]) if text else None


def gap_snapshot(generation_id, seen: int) -> dict | None:
    """The stored text for a client whose last seq `seen` is not in the log while later ones are: its runner died
    after handing out seqs its slices did not hold, and the repair ended the log after them. None if `seen` is
    logged (what the client has is the log's), or 0 (it has nothing)."""
    if seen <= 0 or GenerationSlice.objects.filter(generation_id=generation_id, first_seq__lte=seen,
                                                   last_seq__gte=seen).exists():
        return None
    return _stored_text(generation_id)


def past_the_end(generation_id, after: int) -> list[dict]:
    """For a client resuming after the last seq of an ended generation's log: the stored text, then the stored
    `done`, instead of an empty stream its EventSource would reopen forever. [] when it saw the end itself."""
    last_seq = Generation.objects.filter(pk=generation_id).values_list("last_seq", flat=True).first()
    if last_seq is None or after <= last_seq:
        return []
    last = GenerationSlice.objects.filter(generation_id=generation_id).order_by("-first_seq").values_list(
        "events", flat=True).first()
    snapshot = _stored_text(generation_id)
    if not last or last[-1]["type"] != TERMINAL or snapshot is None:
        return []
    return [snapshot, last[-1]]
