"""Generations: assistant replies that run detached from any connection, and the events they stream.

Public API (views, consumers and compare build on it):

- ``generation_start(*, user, conversation, reply_to, model=None, group_id=None) -> Generation`` (sync code) and
  ``ageneration_start(...)`` (async code): create the streaming assistant Message and its Generation and start the
  provider call as a task of this process. The model is ``model``, else ``reply_to.model``, else the conversation's
  default, else ``PARLEY_DEFAULT_MODEL``. Raises ProviderError (bad model, provider not configured) before anything
  is stored, and ConversationBusy (409) while another reply streams into the conversation; generations sharing a
  ``group_id`` (a compare fan-out) may run side by side.
- ``conversation_reply_start`` / ``aconversation_reply_start(*, user, conversation, content, model=None,
  attachments=None)``: store the user's message (with its upload ids attached) and start the reply in one
  transaction (nothing is stored on 409 or a refused attachment).
- ``generation_events(generation_id, *, after=0) -> AsyncIterator[dict]``: the SPEC §4 events (each with ``type``
  and ``seq``) after ``after``: the missed ones replayed, then live ones, ending with ``done``. Works in any process.
  ``generation_event_batches`` is the same in batches, with ``[]`` after ``idle_timeout`` seconds of silence.
- ``generation_cancel(*, user, generation_id) -> Generation`` (404 for another user's): closes the provider call;
  the partial text is stored ``cancelled``. ``agenerations_wait_finished`` waits for the end state.
- ``generations_shutdown()`` stores running generations of this process as ``interrupted``;
  ``generations_repair(stale_after=...)`` does the same for ones a crashed process left ``streaming``.
"""
import asyncio
import contextlib
import contextvars
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from chats.models import (
    Conversation,
    Generation,
    GenerationSlice,
    GenerationStatus,
    Message,
    MessageRole,
    MessageStatus,
)
from chats.runs import (
    HEARTBEAT_SECONDS,
    RUNS,
    Run,
    Subscriber,
    db_call,
    group_name,
    persister_for,
    release_conversation,
    shared_channel_layer,
)
from chats.tree import BRANCH_TIP
from core.exceptions import Conflict
from providers.base import ChatMessage, ChatRequest
from providers.errors import ProviderError, StreamTruncated
from providers.events import EventKind

logger = logging.getLogger("parley.generations")

ACTIVE = [GenerationStatus.QUEUED, GenerationStatus.RUNNING]
TERMINAL_EVENT = "done"


class ConversationBusy(Conflict):
    default_detail = "A reply is still streaming in this conversation; wait for it or cancel it."
    default_code = "conversation_busy"


class NoUserMessage(ProviderError):
    code = "no_user_message"
    status_code = 400

    def default_message(self) -> str:
        return "The conversation has no user message to reply to."


class InternalFailure(ProviderError):
    code = "internal_error"

    def default_message(self) -> str:
        return "The reply failed because of an internal error."


class Interrupted(ProviderError):
    code = "interrupted"
    retryable = True

    def default_message(self) -> str:
        return "The server stopped while the reply was streaming; the text so far is kept."


# --- where runs live -------------------------------------------------------------------------------------------------

_main_loop: asyncio.AbstractEventLoop | None = None
_background_loop: asyncio.AbstractEventLoop | None = None
_background_lock = threading.Lock()


def note_server_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Remember the server's event loop: generations started from sync code run there."""
    global _main_loop
    if _main_loop is None or not _main_loop.is_running():
        _main_loop = loop


def server_loop() -> asyncio.AbstractEventLoop | None:
    """The server's event loop while it runs (None in a worker or a command)."""
    return _main_loop if _main_loop is not None and _main_loop.is_running() else None


def _loop_for_sync_caller() -> asyncio.AbstractEventLoop:
    global _background_loop
    if _main_loop is not None and _main_loop.is_running():
        return _main_loop
    # No server loop (a Celery worker, a management command): a private loop thread of this process.
    with _background_lock:
        if _background_loop is None or not _background_loop.is_running():
            _background_loop = asyncio.new_event_loop()
            threading.Thread(target=_background_loop.run_forever, name="parley-generations", daemon=True).start()
    return _background_loop


# --- building the request --------------------------------------------------------------------------------------------


def resolve_model(*, conversation: Conversation, reply_to: Message | None, model: str | None = None) -> str:
    return (
        (model or "").strip()
        or (reply_to.model if reply_to is not None else "")
        or conversation.default_model
        or settings.PARLEY_DEFAULT_MODEL
    )


def chat_history(*, conversation: Conversation, up_to: Message | None, attachments=None) -> list[ChatMessage]:
    """The context a reply sees: the tree's path from the root to `up_to` (the current branch if None; see
    chats.tree), assistant text even when it stopped early, but never an assistant turn that has no text. With an
    `attachments` reader (uploads.attachments.AttachmentReader) user messages carry their attachments again."""
    from chats.tree import history_ids
    from uploads.selectors import uploads_by_id

    messages = conversation.messages.filter(role__in=[MessageRole.USER, MessageRole.ASSISTANT, MessageRole.TOOL])
    messages = messages.filter(pk__in=history_ids(conversation_id=conversation.pk,
                                                  up_to_id=up_to.pk if up_to is not None else None))
    rows = [row for row in messages.order_by("created_at", "id").values_list(
        "pk", "role", "content", "reasoning", "metadata", "selected", "attachments")
        if row[1] != MessageRole.ASSISTANT or row[2]]
    wanted = [item["id"] for row in rows if row[1] == MessageRole.USER and attachments is not None
              for item in row[6] or () if isinstance(item, dict) and "id" in item]
    files = uploads_by_id(wanted) if wanted else {}
    history = []
    for pk, role, content, reasoning, metadata, _selected, listed in rows:
        uploads = [files[item["id"]] for item in listed or () if isinstance(item, dict) and item.get("id") in files]
        current = up_to is not None and pk == up_to.pk
        history.append(ChatMessage(role=role, content=content, reasoning=reasoning, metadata=metadata or {},
                                   attachments=attachments.read(uploads, current=current) if uploads else []))
    return history


@dataclass
class StartPlan:
    """Everything a reply needs before anything is stored: its ids, its model's route and the request."""

    user: object
    conversation: Conversation
    reply_to: Message | None
    content: str | None
    requested_model: str
    model: str
    group_id: uuid.UUID | None
    route: object
    request: ChatRequest
    uploads: list = field(default_factory=list)  # the new user message's attachments
    generation_id: uuid.UUID = field(default_factory=uuid.uuid4)
    message_id: uuid.UUID = field(default_factory=uuid.uuid4)
    parent: object = BRANCH_TIP  # the new user message's parent: a Message, None (a new first message), or the tip
    continuation: Message | None = None  # a stopped reply that goes on (continue_plan)

    @property
    def lock_key(self) -> uuid.UUID:
        return self.group_id or self.generation_id


def _plan(*, user, conversation: Conversation, reply_to: Message | None, content: str | None, model: str | None,
          group_id, attachments: list | None = None, parent=BRANCH_TIP,
          continuation: Message | None = None) -> StartPlan:
    """Reads only: the model and its route (ProviderError if unusable), the new message's attachments (400 if
    not the caller's or not readable by the model), the history, and a first busy check."""
    from providers.gateway import resolve_route
    from uploads.attachments import AttachmentReader
    from uploads.selectors import attachments_for_message

    if content is None and reply_to is None:
        raise NoUserMessage()
    chosen = resolve_model(conversation=conversation, reply_to=reply_to, model=model)
    route = resolve_route(model=chosen, user_id=user.pk)
    holder = Conversation.objects.filter(pk=conversation.pk).values_list("active_stream", flat=True).first()
    if holder is not None and holder != group_id and _has_active_generation(conversation.pk):
        raise ConversationBusy()
    uploads = attachments_for_message(owner=user, upload_ids=attachments or [])
    reader = AttachmentReader(route=route, user_id=user.pk)
    history_end = reply_to if content is None else _parent_or_none(parent)
    history = chat_history(conversation=conversation, up_to=history_end, attachments=reader)
    if continuation is not None:
        history.append(ChatMessage(role=MessageRole.ASSISTANT, content=continuation.content,
                                   reasoning=continuation.reasoning, metadata=continuation.metadata or {}))
    if content is not None:
        history.append(ChatMessage(role=MessageRole.USER, content=content,
                                   attachments=reader.read(uploads, current=True)))
    request = ChatRequest(messages=history, system=conversation.system_prompt, params=dict(conversation.params or {}))
    plan = StartPlan(user=user, conversation=conversation, reply_to=reply_to, content=content,
                     requested_model=(model or "").strip(), model=chosen, group_id=group_id, route=route,
                     request=request, uploads=uploads, parent=parent, continuation=continuation)
    if continuation is not None:
        plan.message_id = continuation.pk
    return plan


def _parent_or_none(parent):
    """The end of the history a new user message follows: its edit parent, else the whole current branch."""
    return None if parent is BRANCH_TIP else parent


def _has_active_generation(conversation_id) -> bool:
    return Generation.objects.filter(conversation_id=conversation_id, status__in=ACTIVE).exists()


def _commit(plan: StartPlan, runner: str) -> Generation:
    """One transaction: take the conversation (ConversationBusy if taken), store the user message (if any), the
    streaming assistant message and the generation."""
    from chats.services import message_create

    conversation, reply_to = plan.conversation, plan.reply_to
    with transaction.atomic():
        _take_conversation(conversation=conversation, lock_key=plan.lock_key)
        if plan.continuation is not None:
            return _commit_continuation(plan, runner)
        new_messages = []
        if plan.content is not None:
            reply_to = message_create(conversation=conversation, content=plan.content, role=MessageRole.USER,
                                      model=plan.requested_model, attachments=plan.uploads, parent=plan.parent)
            new_messages.append(reply_to)
            selected = True
        else:
            siblings = Message.objects.filter(reply_to=reply_to, role=MessageRole.ASSISTANT)
            if plan.group_id is None:
                siblings.update(selected=False)
                selected = True
            else:
                selected = not siblings.filter(selected=True).exists()
        message = Message.objects.create(
            id=plan.message_id, conversation=conversation, role=MessageRole.ASSISTANT, model=plan.model,
            status=MessageStatus.STREAMING, reply_to=reply_to, parent=reply_to, selected=selected,
        )
        new_messages.append(message)
        now = timezone.now()
        generation = Generation.objects.create(
            id=plan.generation_id, owner=plan.user, conversation=conversation, message=message, model=plan.model,
            status=GenerationStatus.RUNNING, group_id=plan.group_id, runner=runner, started_at=now,
            heartbeat_at=now,
        )
        _announce_on_commit(new_messages, generation)
    return generation


def _commit_continuation(plan: StartPlan, runner: str) -> Generation:
    """Continue: the stopped reply streams again under a new generation (the old one lets go of the message)."""
    message = plan.continuation
    Generation.objects.filter(message=message).update(message=None)
    Message.objects.filter(pk=message.pk).update(status=MessageStatus.STREAMING, error="", error_code="",
                                                 finish_reason="")
    now = timezone.now()
    generation = Generation.objects.create(
        id=plan.generation_id, owner=plan.user, conversation=plan.conversation, message=message, model=plan.model,
        status=GenerationStatus.RUNNING, runner=runner, started_at=now, heartbeat_at=now,
    )
    message.status = MessageStatus.STREAMING
    _announce_on_commit([message], generation)
    return generation


def _announce_on_commit(messages: list[Message], generation: Generation) -> None:
    """Every open conversation WebSocket hears of the new messages once they are stored (chats.live)."""
    from chats.live import announce_messages

    transaction.on_commit(lambda: announce_messages(messages, generation_id=generation.pk))


def _take_conversation(*, conversation: Conversation, lock_key) -> None:
    """Mark the conversation as streaming, atomically in the database; ConversationBusy if it already is."""
    taken = Conversation.objects.filter(
        Q(active_stream__isnull=True) | Q(active_stream=lock_key), pk=conversation.pk
    ).update(active_stream=lock_key)
    if taken:
        return
    # The holder may have ended without releasing (a crash): take it over only if nothing runs there.
    if _has_active_generation(conversation.pk):
        raise ConversationBusy()
    holder = Conversation.objects.filter(pk=conversation.pk).values_list("active_stream", flat=True).first()
    if not Conversation.objects.filter(pk=conversation.pk, active_stream=holder).update(active_stream=lock_key):
        raise ConversationBusy()


def _register(plan: StartPlan, loop: asyncio.AbstractEventLoop) -> Run:
    run = Run(
        generation_id=str(plan.generation_id), message_id=str(plan.message_id),
        conversation_id=str(plan.conversation.pk), lock_key=str(plan.lock_key), model=plan.model, loop=loop,
    )
    if plan.continuation is not None:
        run.text_before = (plan.continuation.content, plan.continuation.reasoning)
    RUNS[run.generation_id] = run
    return run


def _launch(run: Run, route, request) -> None:
    """Start the run's task; call in the run's loop."""
    # A fresh context: the run outlives the request that started it, and must not inherit its per-request state
    # (asgiref's thread-sensitive executor of that request quits when the response ends).
    run.task = run.loop.create_task(_drive(run, route, request), name=f"generation-{run.generation_id}",
                                    context=contextvars.Context())
    persister_for(run.loop).ensure_running()


def generation_start(*, user, conversation: Conversation, reply_to: Message, model: str | None = None,
                     group_id: uuid.UUID | None = None) -> Generation:
    """Start a reply to `reply_to` from sync code (see the module docstring)."""
    return _start_sync(user=user, conversation=conversation, reply_to=reply_to, content=None, model=model,
                       group_id=group_id)


def conversation_reply_start(*, user, conversation: Conversation, content: str, model: str | None = None,
                             attachments: list | None = None) -> Generation:
    return _start_sync(user=user, conversation=conversation, reply_to=None, content=content, model=model,
                       group_id=None, attachments=attachments)


def _start_sync(**kwargs) -> Generation:
    loop = _loop_for_sync_caller()
    plan = _plan(**kwargs)
    generation = _commit(plan, persister_for(loop).runner)
    run = _register(plan, loop)
    run.mark_stored(True)
    loop.call_soon_threadsafe(_launch, run, plan.route, plan.request)
    return generation


async def ageneration_start(*, user, conversation: Conversation, reply_to: Message, model: str | None = None,
                            group_id: uuid.UUID | None = None) -> Generation:
    """Start a reply from async code; the provider call runs as a task of the running loop."""
    return await _start_async(user=user, conversation=conversation, reply_to=reply_to, content=None, model=model,
                              group_id=group_id)


async def aconversation_reply_start(*, user, conversation: Conversation, content: str,
                                    model: str | None = None, attachments: list | None = None,
                                    parent=BRANCH_TIP) -> Generation:
    return await _start_async(user=user, conversation=conversation, reply_to=None, content=content, model=model,
                              group_id=None, attachments=attachments, parent=parent)


async def _start_async(**kwargs) -> Generation:
    loop = asyncio.get_running_loop()
    note_server_loop(loop)
    return await db_call(reply_start_in_loop, loop, **kwargs)


def reply_start_in_loop(loop: asyncio.AbstractEventLoop, *, user, conversation: Conversation,
                        reply_to: Message | None, content: str | None, model: str | None,
                        group_id=None, attachments: list | None = None, parent=BRANCH_TIP,
                        continuation: Message | None = None) -> Generation:
    """From a worker thread of `loop` (db_call, sync_to_async): start a reply whose provider call runs in `loop`.
    Views call it inside their own thread hop, so a request costs one hop.

    Plan, start the provider call, then store the rows:
    The provider call starts while the rows are written: a real provider's first token takes far longer than the
    transaction, so storing adds nothing to the time to first token. Events wait in memory until the rows exist.
    """
    plan = _plan(user=user, conversation=conversation, reply_to=reply_to, content=content, model=model,
                 group_id=group_id, attachments=attachments, parent=parent, continuation=continuation)
    run = _register(plan, loop)
    loop.call_soon_threadsafe(_launch, run, plan.route, plan.request)
    try:
        generation = _commit(plan, persister_for(loop).runner)
    except BaseException:
        # Refused (409) or failed: the provider call is closed and nothing of the run is kept.
        RUNS.pop(run.generation_id, None)
        run.mark_stored(False)
        loop.call_soon_threadsafe(run.stop, GenerationStatus.CANCELLED)
        raise
    run.mark_stored(True)
    return generation


# --- running ---------------------------------------------------------------------------------------------------------


def _ms_since(start: float) -> int:
    return int((time.monotonic() - start) * 1000)


class ReplyState:
    """What a reply has so far; translates each provider StreamEvent into the Parley event to emit (or None)."""

    def __init__(self, accepted_at: float):
        self.accepted_at = accepted_at
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.finished = False
        self.finish_reason = ""
        self.ttft_ms: int | None = None
        self.usage: dict = {}
        self.cost: Decimal | None = None
        self.metadata: dict = {}
        self.tool_calls: list[dict] = []
        self.citations: list | None = None

    def translate(self, event) -> tuple[str, dict] | None:
        kind = event.kind
        if event.metadata:
            self.metadata.setdefault("provider", {}).update(event.metadata)
        if kind is EventKind.TEXT or kind is EventKind.REASONING:
            if not event.text:
                return None
            if self.ttft_ms is None:
                self.ttft_ms = _ms_since(self.accepted_at)
            if kind is EventKind.TEXT:
                self.content.append(event.text)
                return "content", {"content": event.text}
            self.reasoning.append(event.text)
            return "reasoning", {"reasoning": event.text}
        if kind is EventKind.TOOL_CALL:
            call = {"id": event.data.get("id", ""), "name": event.data.get("name", ""),
                    "arguments": event.data.get("arguments", "")}
            self.tool_calls.append(call)
            return "tool_call", call
        if kind is EventKind.CITATIONS:
            self.citations = event.data.get("citations") or []
            return "citations", {"citations": self.citations}
        if kind is EventKind.USAGE:
            self.usage = {key: int(event.data.get(key) or 0)
                          for key in ("prompt_tokens", "completion_tokens", "reasoning_tokens", "cached_tokens")}
            cost = event.data.get("cost")
            self.cost = Decimal(str(cost)) if cost is not None else None
            return None
        if kind is EventKind.FINISH:
            self.finished = True
            self.finish_reason = event.data.get("finish_reason") or "stop"
        return None

    async def read(self, route, request, emit) -> None:
        """Stream the provider's reply into `emit(type, fields)`; a stream without its end marker is an error."""
        from providers.gateway import stream_chat

        async with contextlib.aclosing(stream_chat(route, request)) as events:
            async for event in events:
                translated = self.translate(event)
                if translated is not None:
                    emit(*translated)
        if not self.finished:
            raise StreamTruncated(provider=route.provider)

    def closing_events(self, *, status: str, error: ProviderError | None) -> list[tuple[str, dict]]:
        """The usage and error events that precede `done`."""
        events = []
        if self.usage:
            events.append(("usage", {**{key: self.usage.get(key, 0)
                                        for key in ("prompt_tokens", "completion_tokens", "reasoning_tokens")},
                                     "cost": float(self.cost) if self.cost is not None else None}))
        if error is not None:
            events.append(("error", error.as_event()))
        if status == GenerationStatus.CANCELLED and not self.finish_reason:
            self.finish_reason = "cancelled"
        return events

    def done_fields(self, *, message_id, status: str) -> dict:
        return {"done": True, "message_id": message_id, "status": str(status), "finish_reason": self.finish_reason,
                "latency_ms": _ms_since(self.accepted_at), "ttft_ms": self.ttft_ms}


async def _read_reply(reply: ReplyState, route, request, emit, stop_reason) -> tuple[str, ProviderError | None]:
    """Run the provider call to its end; returns (status, error). Cancellation keeps the partial text."""
    try:
        await reply.read(route, request, emit)
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


async def _drive(run: Run, route, request) -> None:
    """Read the provider stream into the run's events until it ends, fails or is stopped; store the end state."""
    reply = ReplyState(run.accepted_at)
    # A continued reply stores its earlier text followed by the new; only the new text is streamed.
    before_content, before_reasoning = getattr(run, "text_before", ("", ""))
    reply.content.extend([before_content] if before_content else [])
    reply.reasoning.extend([before_reasoning] if before_reasoning else [])
    run.content, run.reasoning = reply.content, reply.reasoning
    run.emit("start", {"generation_id": run.generation_id, "message_id": run.message_id, "model": run.model})
    status, error = await _read_reply(reply, route, request, run.emit, lambda: run.stop_reason)
    await asyncio.shield(_finish(run, reply, status=status, error=error))


async def _finish(run: Run, reply: ReplyState, *, status: str, error: ProviderError | None) -> None:
    if not await run.stored:
        run.finished = True  # refused before it was stored: nothing to keep, nobody to tell
        return
    for event_type, fields in reply.closing_events(status=status, error=error):
        run.emit(event_type, fields)
    done = {"type": TERMINAL_EVENT, "seq": run.seq + 1, **reply.done_fields(message_id=run.message_id, status=status)}
    metadata = dict(reply.metadata)
    if reply.tool_calls:
        metadata["tool_calls"] = reply.tool_calls
    if reply.citations:
        metadata["citations"] = reply.citations
    common = {"status": str(status), "finish_reason": reply.finish_reason, "usage": reply.usage, "cost": reply.cost,
              "ttft_ms": reply.ttft_ms, "latency_ms": done["latency_ms"],
              "error_code": error.code if error else "", "error": error.message if error else ""}
    final = {"generation": {**common, "finished_at": timezone.now()}, "message": {**common, "metadata": metadata}}
    # The end state is stored before anyone sees `done`, so a client that reads the message after it agrees.
    run.pending.append(done)
    persister = persister_for(run.loop)
    for attempt in range(5):
        try:
            await persister.flush(final=(run, final))
            break
        except Exception:
            logger.exception("Storing the end of generation %s failed (attempt %d)", run.generation_id, attempt + 1)
            await asyncio.sleep(0.2 * (attempt + 1))
    run.finished = True
    run.events.append(done)
    for subscriber in list(run.subscribers):
        if subscriber.loop is run.loop:
            subscriber.push(done)
        else:
            subscriber.loop.call_soon_threadsafe(subscriber.push, done)
    RUNS.pop(run.generation_id, None)


async def relay_stateless(route, request, *, idle_timeout: float = 15.0) -> AsyncIterator[list[dict]]:
    """A reply that is not stored: the same events in batches (`[]` on silence); closing this ends the call."""
    loop = asyncio.get_running_loop()
    subscriber = Subscriber(loop)
    reply = ReplyState(time.monotonic())
    seq = 0

    def emit(event_type: str, fields: dict) -> None:
        nonlocal seq
        seq += 1
        subscriber.push({"type": event_type, "seq": seq, **fields})

    async def relay() -> None:
        emit("start", {"generation_id": None, "message_id": None, "model": route.model})
        status, error = await _read_reply(reply, route, request, emit, lambda: GenerationStatus.CANCELLED)
        for event_type, fields in reply.closing_events(status=status, error=error):
            emit(event_type, fields)
        emit(TERMINAL_EVENT, reply.done_fields(message_id=None, status=status))

    task = loop.create_task(relay())
    try:
        while True:
            batch = await subscriber.next_batch(idle_timeout)
            yield batch
            if batch and batch[-1]["type"] == TERMINAL_EVENT:
                return
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# --- following -------------------------------------------------------------------------------------------------------


def _persisted_events(generation_id: str, after: int) -> list[dict]:
    rows = GenerationSlice.objects.filter(generation_id=generation_id, last_seq__gt=after).order_by("first_seq")
    return [event for events in rows.values_list("events", flat=True) for event in events if event["seq"] > after]


async def generation_event_batches(generation_id, *, after: int = 0,
                                   idle_timeout: float = 15.0) -> AsyncIterator[list[dict]]:
    """Batches of events after `after` (see the module docstring); `[]` after `idle_timeout` s of silence."""
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
            if batch and batch[-1]["type"] == TERMINAL_EVENT:
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
        channel = await layer.new_channel("parley.follow.")
        await layer.group_add(group_name(generation_id), channel)

        async def pump_slices():
            while True:
                message = await layer.receive(channel)
                subscriber.push_many(message.get("events") or [])

        pump = loop.create_task(pump_slices())
        runner = await db_call(_runner_of, generation_id)
        if runner:
            # Ask the process running it to publish its slices (it does not, unless someone elsewhere listens).
            with contextlib.suppress(Exception):
                await layer.send(runner, {"type": "generation.follow", "generation_id": generation_id})
    # Without a shared layer there is nobody to hear from: poll the log, which is written every slice.
    poll_seconds = 5.0 if layer is not None else 0.25
    last = after
    quiet_since = time.monotonic()
    try:
        batch, over = await db_call(_persisted_events_or_over, generation_id, last)
        if not batch and over:
            return
        while True:
            if batch:
                if batch[0]["seq"] > last + 1:
                    batch = await db_call(_persisted_events, generation_id, last)
                fresh = [event for event in batch if event["seq"] > last]
                if fresh:
                    last = fresh[-1]["seq"]
                    quiet_since = time.monotonic()
                    yield fresh
                    if fresh[-1]["type"] == TERMINAL_EVENT:
                        return
            elif time.monotonic() - quiet_since >= idle_timeout:
                quiet_since = time.monotonic()
                yield []
            batch = await subscriber.next_batch(min(poll_seconds, idle_timeout))
            if not batch:
                batch, over = await db_call(_persisted_events_or_over, generation_id, last)
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


def _runner_of(generation_id: str) -> str:
    return Generation.objects.filter(pk=generation_id, status__in=ACTIVE).values_list("runner", flat=True).first() or ""


def _persisted_events_or_over(generation_id: str, after: int) -> tuple[list[dict], bool]:
    """The logged events after `after`, and whether the generation is over or gone (read first: its end state and
    last slice are written in one transaction, so an over generation's log is already complete)."""
    over = not Generation.objects.filter(pk=generation_id, status__in=ACTIVE).exists()
    return _persisted_events(generation_id, after), over


async def generation_events(generation_id, *, after: int = 0) -> AsyncIterator[dict]:
    """Every event after `after`, replayed then live, ending with `done` (see the module docstring)."""
    async with contextlib.aclosing(generation_event_batches(generation_id, after=after, idle_timeout=60.0)) as batches:
        async for batch in batches:
            for event in batch:
                yield event


# --- reading, cancelling ---------------------------------------------------------------------------------------------


def conversation_for_streaming(*, user, conversation_id) -> Conversation:
    """The user's conversation (one plain query, nothing annotated), or Http404."""
    try:
        return Conversation.objects.get(pk=uuid.UUID(str(conversation_id)), owner=user)
    except (ValueError, AttributeError, Conversation.DoesNotExist):
        raise Http404("No such conversation.")


def generation_get(*, user, generation_id) -> Generation:
    """The user's generation, or Http404 (also for another user's or a malformed id)."""
    try:
        pk = uuid.UUID(str(generation_id))
    except (TypeError, ValueError, AttributeError):
        raise Http404("No such generation.")
    try:
        return Generation.objects.select_related("message").get(pk=pk, owner=user)
    except Generation.DoesNotExist:
        raise Http404("No such generation.")


def generation_cancel(*, user, generation_id) -> Generation:
    """Stop the user's generation wherever it runs; the partial text is stored as `cancelled`."""
    generation = generation_get(user=user, generation_id=generation_id)
    if generation.status not in ACTIVE:
        return generation
    _stop(generation, reason=GenerationStatus.CANCELLED)
    return generation


def _stop(generation: Generation, *, reason: str) -> None:
    run = RUNS.get(str(generation.pk))
    if run is not None:
        run.loop.call_soon_threadsafe(run.stop, reason)
        return
    layer = shared_channel_layer()
    stale = generation.heartbeat_at is None or generation.heartbeat_at < timezone.now() - timedelta(
        seconds=3 * HEARTBEAT_SECONDS)
    if layer is not None and generation.runner and not stale:
        async_to_sync(layer.send)(generation.runner, {"type": "generation.stop", "generation_id": str(generation.pk),
                                                      "reason": reason})
        return
    # Nobody is running it any more (a crash): store the end state here.
    _close_orphan(generation.pk, status=reason)


async def agenerations_wait_finished(generation_id, *, within: float = 5.0) -> None:
    """Wait until the generation has stored its end state (or `within` seconds pass)."""
    deadline = time.monotonic() + within
    run = RUNS.get(str(generation_id))
    while time.monotonic() < deadline:
        if run is not None:
            if run.finished:
                return
        elif not await Generation.objects.filter(pk=generation_id, status__in=ACTIVE).aexists():
            return
        await asyncio.sleep(0.02)


# --- shutdown and repair ---------------------------------------------------------------------------------------------


async def generations_shutdown(*, within: float = 5.0) -> int:
    """Stop every generation of this process and store it `interrupted` with its text so far."""
    runs = list(RUNS.values())
    for run in runs:
        run.loop.call_soon_threadsafe(run.stop, GenerationStatus.INTERRUPTED)
    by_loop: dict = {}
    for run in runs:
        if run.task is not None:
            by_loop.setdefault(run.loop, []).append(run.task)
    current = asyncio.get_running_loop()
    waits = []
    for loop, tasks in by_loop.items():
        if loop is current:
            waits.append(asyncio.wait(tasks, timeout=within))
        else:
            waiting = asyncio.run_coroutine_threadsafe(asyncio.wait(tasks, timeout=within), loop)
            waits.append(asyncio.wrap_future(waiting))
    if waits:
        await asyncio.gather(*waits, return_exceptions=True)
    for run in runs:
        if not run.finished:
            await sync_to_async(_close_orphan)(run.generation_id, status=GenerationStatus.INTERRUPTED)
    return len(runs)


def generations_repair(*, stale_after: timedelta | None = None) -> int:
    """Store as `interrupted` the generations left running by a process that is gone; returns how many.

    With `stale_after`, only those whose runner has not sent a heartbeat for that long (other processes may be
    alive); without, every one not running in this process.
    """
    candidates = Generation.objects.filter(status__in=ACTIVE).exclude(pk__in=list(RUNS))
    if stale_after is not None:
        cutoff = timezone.now() - stale_after
        candidates = candidates.filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff))
    repaired = 0
    for generation_id in candidates.values_list("pk", flat=True):
        repaired += _close_orphan(generation_id, status=GenerationStatus.INTERRUPTED)
    # A conversation can stay marked as streaming when its process died between the two writes.
    idle = Conversation.objects.filter(active_stream__isnull=False).exclude(
        generations__status__in=ACTIVE
    )
    idle.update(active_stream=None)
    return repaired


def _close_orphan(generation_id, *, status: str) -> int:
    """Store the end of a generation nobody runs any more: its text is rebuilt from the event log (which is
    ahead of the stored text by up to a second), and a `done` event closes the log."""
    with transaction.atomic():
        generation = Generation.objects.select_for_update().filter(pk=generation_id, status__in=ACTIVE).first()
        if generation is None:
            return 0
        logged = [event for events in GenerationSlice.objects.filter(generation=generation).order_by("first_seq")
                  .values_list("events", flat=True) for event in events]
        last_seq = logged[-1]["seq"] if logged else 0
        error = Interrupted() if status == GenerationStatus.INTERRUPTED else None
        events = []
        if error is not None:
            events.append({"type": "error", "seq": last_seq + 1, **error.as_event()})
        finish_reason = "cancelled" if status == GenerationStatus.CANCELLED else ""
        events.append({"type": TERMINAL_EVENT, "seq": last_seq + len(events) + 1, "done": True,
                       "message_id": str(generation.message_id) if generation.message_id else None,
                       "status": str(status), "finish_reason": finish_reason, "latency_ms": None,
                       "ttft_ms": generation.ttft_ms})
        GenerationSlice.objects.create(generation=generation, first_seq=events[0]["seq"],
                                       last_seq=events[-1]["seq"], events=events)
        fields = {"status": str(status), "finish_reason": finish_reason,
                  "error_code": error.code if error else "", "error": error.message if error else ""}
        Generation.objects.filter(pk=generation.pk).update(last_seq=events[-1]["seq"], finished_at=timezone.now(),
                                                           **fields)
        if generation.message_id:
            text = {}
            if logged:
                text = {"content": "".join(e.get("content", "") for e in logged if e["type"] == "content"),
                        "reasoning": "".join(e.get("reasoning", "") for e in logged if e["type"] == "reasoning")}
            Message.objects.filter(pk=generation.message_id).update(**fields, **text)
        if generation.conversation_id:
            release_conversation(conversation_id=generation.conversation_id,
                                 lock_key=str(generation.group_id or generation.pk), generation_id=generation.pk,
                                 conversation_model=Conversation, generation_model=Generation)
    return 1
