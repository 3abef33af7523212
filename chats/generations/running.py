"""Running a reply: the event loop it runs on, the provider call read into its events, its end, and stopping it."""
import asyncio
import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import AsyncIterator
from datetime import timedelta

from asgiref.sync import async_to_sync
from django.utils import timezone

from chats.generations.errors import InternalFailure, Interrupted
from chats.generations.persistence import HEARTBEAT_SECONDS, shared_channel_layer
from chats.generations.state import RUNS, ReplyState, Run, Subscriber
from chats.generations.tool_loop import ToolOffer, ToolReplyState, run_with_tools, stored_fields
from chats.models import Generation, GenerationStatus
from chats.selectors import ACTIVE, generation_get, generation_is_active
from core import events
from core.db_workers import db_call
from providers.errors import ProviderError, StreamTruncated

logger = logging.getLogger("parley.generations")

# --- where runs live -------------------------------------------------------------------------------------------------

_main_loop: asyncio.AbstractEventLoop | None = None
_background_loop: asyncio.AbstractEventLoop | None = None
_background_lock = threading.Lock()


def server_loop() -> asyncio.AbstractEventLoop | None:
    """The server's event loop while it runs (None in a worker or a command)."""
    return _main_loop if _main_loop is not None and _main_loop.is_running() else None


def note_server_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Remember the server's event loop: generations started from sync code run there."""
    global _main_loop
    if _main_loop is None or not _main_loop.is_running():
        _main_loop = loop


def loop_for_sync_caller() -> asyncio.AbstractEventLoop:
    global _background_loop
    if _main_loop is not None and _main_loop.is_running():
        return _main_loop
    # No server loop (a Celery worker, a management command): a private loop thread of this process.
    with _background_lock:
        if _background_loop is None or not _background_loop.is_running():
            _background_loop = asyncio.new_event_loop()
            threading.Thread(target=_background_loop.run_forever, name="parley-generations", daemon=True).start()
    return _background_loop


# --- reading the provider's reply ------------------------------------------------------------------------------------


async def read_reply(reply: ReplyState, route, request, emit, next_seq,
                     stop_reason) -> tuple[str, ProviderError | None]:
    """Run the provider call to its end, handing each Parley event (numbered `next_seq()`) to `emit`; returns
    (status, error). A stream without its end marker is an error; cancellation keeps the partial text."""
    from providers.gateway import stream_chat

    try:
        async with contextlib.aclosing(stream_chat(route, request)) as provider_events:
            async for provider_event in provider_events:
                event = reply.translate(provider_event, next_seq())
                if event is not None:
                    emit(event)
        if not reply.finished:
            raise StreamTruncated(provider=route.provider)
        return GenerationStatus.COMPLETE, None
    except ProviderError as exc:
        return GenerationStatus.FAILED, exc
    except asyncio.CancelledError:
        # Our own stop() (cancel, shutdown) or the loop going away: either way the partial text is kept.
        asyncio.current_task().uncancel()
        status = stop_reason() or GenerationStatus.INTERRUPTED
        return status, Interrupted() if status == GenerationStatus.INTERRUPTED else None
    except Exception:
        logger.exception("A reply from %s failed", route.model)
        return GenerationStatus.FAILED, InternalFailure()


# --- a stored reply --------------------------------------------------------------------------------------------------


def launch(run: Run, route, request) -> None:
    """Start the run's task; call in the run's loop."""
    # A fresh context: the run outlives the request that started it, and must not inherit its per-request state
    # (asgiref's thread-sensitive executor of that request quits when the response ends).
    run.task = run.loop.create_task(_drive(run, route, request), name=f"generation-{run.generation_id}",
                                    context=contextvars.Context())
    run.persister.ensure_running()


async def _drive(run: Run, route, request) -> None:
    """Read the provider stream into the run's events until it ends, fails or is stopped; store the end state."""
    offer = getattr(run, "tool_offer", None)
    tools_before = getattr(run, "tools_before", None)  # a continued reply keeps the calls it made before
    if offer is not None or tools_before:
        reply = ToolReplyState(run.accepted_at, offer or ToolOffer())
        reply.resume_from(tools_before or {})
    else:
        reply = ReplyState(run.accepted_at)
    # A continued reply (start.py) stores its earlier text followed by the new; only the new text is streamed.
    before_content, before_reasoning = getattr(run, "text_before", ("", ""))
    reply.content.extend([before_content] if before_content else [])
    reply.reasoning.extend([before_reasoning] if before_reasoning else [])
    run.content, run.reasoning = reply.content, reply.reasoning
    run.emit(events.start(seq=1, generation_id=run.generation_id, message_id=run.message_id, model=run.model))
    if offer is not None:  # the tool loop (tool_loop.py): rounds of provider calls and tool calls
        status, error = await run_with_tools(reply, route, request, run.emit, lambda: run.seq + 1,
                                             lambda: run.stop_reason, offer=offer, generation_id=run.generation_id,
                                             read_reply=read_reply, stored=run.stored)
    else:
        status, error = await read_reply(reply, route, request, run.emit, lambda: run.seq + 1,
                                         lambda: run.stop_reason)
    await asyncio.shield(_finish(run, reply, status=status, error=error))


async def _record_usage(run: Run, reply: ReplyState, *, status: str, error: ProviderError | None) -> None:
    """The reply's usage row, priced (estimated from its text when no usage came); what it stores on the reply."""
    from usage.services import reply_usage_record

    try:
        priced = await db_call(
            reply_usage_record, generation_id=run.generation_id, model=run.model, status=str(status),
            usage=reply.usage, cost=reply.cost, cost_source=reply.cost_source, text="".join(reply.content),
            reasoning="".join(reply.reasoning), error_code=error.code if error else "",
            latency_ms=int((time.monotonic() - reply.accepted_at) * 1000))
    except Exception:
        logger.exception("Recording the usage of generation %s failed", run.generation_id)
        return
    reply.usage, reply.cost = priced.usage, priced.cost


async def _record_stateless_usage(route, request, reply: ReplyState, *, status: str,
                                  error: ProviderError | None) -> None:
    """A reply that is not stored still costs money: its usage row (no conversation), estimated when no usage came."""
    from usage.models import UsageKind
    from usage.services import call_usage_record

    if route.user_id is None:
        return
    usage = dict(reply.usage, cost=reply.cost, cost_source=reply.cost_source) if reply.usage else None
    try:
        await db_call(call_usage_record, kind=UsageKind.REPLY, owner_id=route.user_id, model=route.model,
                      status=str(status), usage=usage, error_code=error.code if error else "", request=request,
                      text="".join(reply.content) + "".join(reply.reasoning))
    except Exception:
        logger.exception("Recording the usage of a stateless reply from %s failed", route.model)


async def _finish(run: Run, reply: ReplyState, *, status: str, error: ProviderError | None) -> None:
    if not await run.stored:
        run.finished = True  # refused before it was stored: nothing to keep, nobody to tell
        return
    await _record_usage(run, reply, status=status, error=error)
    for event in reply.closing_events(status=status, error=error, seq=run.seq + 1):
        run.emit(event)
    done = reply.done_event(seq=run.seq + 1, message_id=run.message_id, status=status)
    # The end state is stored before anyone sees `done`, so a client that reads the message after it agrees.
    run.pending.append(done)
    final = finished_fields(reply, status=status, error=error, latency_ms=done["latency_ms"])
    final["generation"]["last_seq"] = done["seq"]
    stored = False
    for attempt in range(5):
        try:
            if stored := await run.persister.finish(run, final):
                break
        except Exception:
            logger.exception("Storing the end of generation %s failed (attempt %d)", run.generation_id, attempt + 1)
            await asyncio.sleep(0.2 * (attempt + 1))
    # Not stored yet (a database outage): the end stays queued in the persister, which stores it once the database
    # is back; until then the run stays known here (heartbeats go on), so no repair writes a second end.
    run.finished = True
    run.events.append(done)
    for subscriber in list(run.subscribers):
        if subscriber.loop is run.loop:
            subscriber.push(done)
        else:
            subscriber.loop.call_soon_threadsafe(subscriber.push, done)
    if stored:
        RUNS.pop(run.generation_id, None)


def finished_fields(reply: ReplyState, *, status: str, error: ProviderError | None, latency_ms: int) -> dict:
    """The end state stored on the generation and its message."""
    metadata = dict(reply.metadata)
    metadata.update(stored_fields(reply))
    if reply.citations:
        metadata["citations"] = reply.citations
    common = {"status": str(status), "finish_reason": reply.finish_reason, "usage": reply.usage, "cost": reply.cost,
              "ttft_ms": reply.ttft_ms, "latency_ms": latency_ms,
              "error_code": error.code if error else "", "error": error.message if error else ""}
    return {"generation": {**common, "finished_at": timezone.now()}, "message": {**common, "metadata": metadata}}


# --- a reply that is not stored --------------------------------------------------------------------------------------


async def relay_stateless(route, request, *, idle_timeout: float = 15.0) -> AsyncIterator[list[dict]]:
    """A reply that is not stored: the same events in batches (`[]` on silence); closing this ends the call."""
    loop = asyncio.get_running_loop()
    subscriber = Subscriber(loop)
    reply = ReplyState(time.monotonic())
    seq = 0

    def next_seq() -> int:
        return seq + 1

    def emit(event: dict) -> None:
        nonlocal seq
        seq = event["seq"]
        subscriber.push(event)

    async def relay() -> None:
        emit(events.start(seq=1, generation_id=None, message_id=None, model=route.model))
        status, error = await read_reply(reply, route, request, emit, next_seq, lambda: GenerationStatus.CANCELLED)
        await _record_stateless_usage(route, request, reply, status=status, error=error)
        for event in reply.closing_events(status=status, error=error, seq=seq + 1):
            emit(event)
        emit(reply.done_event(seq=seq + 1, message_id=None, status=status))

    task = loop.create_task(relay())
    try:
        while True:
            batch = await subscriber.next_batch(idle_timeout)
            yield batch
            if batch and batch[-1]["type"] == events.TERMINAL:
                return
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# --- stopping --------------------------------------------------------------------------------------------------------


def generation_cancel(*, user, generation_id) -> Generation:
    """Stop the user's generation wherever it runs; the partial text is stored as `cancelled`."""
    generation = generation_get(user=user, generation_id=generation_id)
    if generation.status not in ACTIVE:
        return generation
    _stop(generation, reason=GenerationStatus.CANCELLED)
    return generation


def _stop(generation: Generation, *, reason: str) -> None:
    from chats.generations.repair import close_orphan

    run = RUNS.get(str(generation.pk))
    if run is not None:
        run.loop.call_soon_threadsafe(run.stop, reason)
        return
    layer = shared_channel_layer()
    stale = generation.heartbeat_at is None or generation.heartbeat_at < timezone.now() - timedelta(
        seconds=3 * HEARTBEAT_SECONDS)
    if generation.runner and not stale:
        # Asked through the database too: its runner notices within STOP_CHECK_SECONDS even when the channel
        # layer (Redis) is down; the channel layer only makes it sooner.
        Generation.objects.filter(pk=generation.pk, status__in=ACTIVE).update(stop_requested=reason)
        if layer is not None:
            try:
                async_to_sync(layer.send)(generation.runner, {
                    "type": "generation.stop", "generation_id": str(generation.pk), "reason": reason})
            except Exception:
                logger.warning("Could not send the stop of generation %s; its runner reads it from the database",
                               generation.pk)
        return
    # Nobody is running it any more (a crash): store the end state here.
    close_orphan(generation.pk, status=reason)


async def agenerations_wait_finished(generation_id, *, within: float = 5.0) -> None:
    """Wait until the generation has stored its end state (or `within` seconds pass)."""
    from asgiref.sync import sync_to_async

    deadline = time.monotonic() + within
    run = RUNS.get(str(generation_id))
    while time.monotonic() < deadline:
        if run is not None:
            if run.finished:
                return
        elif not await sync_to_async(generation_is_active)(generation_id):
            return
        await asyncio.sleep(0.02)

