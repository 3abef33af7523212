"""Starting a reply: plan it, start the provider call in the loop it will run in, store its rows."""
import asyncio
import contextvars
import uuid
import weakref

from chats.generations.persistence import persister_for
from chats.generations.planning import StartPlan, plan_start, store_many, store_start
from chats.generations.running import launch, loop_for_sync_caller, note_server_loop
from chats.generations.state import RUNS, Run
from chats.generations.tool_loop import LOOP_KEYS
from chats.models import Conversation, Generation, GenerationStatus, Message
from chats.tree import BRANCH_TIP
from core.db_workers import db_call, dedicated_thread


def generation_start(*, user, conversation: Conversation, reply_to: Message, model: str | None = None,
                     group_id: uuid.UUID | None = None) -> Generation:
    """Start a reply to `reply_to` from sync code (see the package docstring)."""
    return _start_sync(user=user, conversation=conversation, reply_to=reply_to, content=None, model=model,
                       group_id=group_id)


def conversation_reply_start(*, user, conversation: Conversation, content: str, model: str | None = None,
                             attachments: list | None = None) -> Generation:
    return _start_sync(user=user, conversation=conversation, reply_to=None, content=content, model=model,
                       group_id=None, attachments=attachments)


async def ageneration_start(*, user, conversation: Conversation, reply_to: Message, model: str | None = None,
                            group_id: uuid.UUID | None = None, tools: list[str] | None = None) -> Generation:
    """Start a reply from async code; the provider call runs as a task of the running loop. `tools` replaces the
    conversation's `params.tools` for this reply."""
    return await _start_async(user=user, conversation=conversation, reply_to=reply_to, content=None, model=model,
                              group_id=group_id, tools=tools)


async def aconversation_reply_start(*, user, conversation: Conversation, content: str,
                                    model: str | None = None, attachments: list | None = None,
                                    parent=BRANCH_TIP) -> Generation:
    """`parent` (an edit): the new user message goes under that message (None: a new first message)."""
    return await _start_async(user=user, conversation=conversation, reply_to=None, content=content, model=model,
                              group_id=None, attachments=attachments, parent=parent)


def _start_sync(**kwargs) -> Generation:
    loop = loop_for_sync_caller()
    plan = plan_start(**kwargs)
    generation = store_start(plan, persister_for(loop).runner)
    run = _register(plan, loop)
    run.mark_stored(True)
    loop.call_soon_threadsafe(launch, run, plan.route, plan.request)
    return generation


async def _start_async(**kwargs) -> Generation:
    return await start_planned(await db_call(plan_start, **kwargs))


async def start_planned(plan: StartPlan) -> Generation:
    """Start a planned reply from async code: the provider call starts at once, in the running loop, while its
    rows are stored together with those of every other start of this loop that is waiting (StartBatcher)."""
    loop = asyncio.get_running_loop()
    note_server_loop(loop)
    run = _register(plan, loop)
    launch(run, plan.route, plan.request)
    stored = batcher_for(loop).store(plan, run.persister.runner)
    stored.add_done_callback(lambda future: _settle(run, future))
    # Shielded: a caller that goes away (the client hung up) leaves the rows stored and the run consistent.
    return await asyncio.shield(stored)


def _settle(run: Run, stored: asyncio.Future) -> None:
    if not stored.cancelled() and stored.exception() is None:
        run.mark_stored(True)
        return
    # Refused (409) or failed: the provider call is closed and nothing of the run is kept.
    RUNS.pop(run.generation_id, None)
    run.mark_stored(False)
    run.stop(GenerationStatus.CANCELLED)


# Batches are written on a thread of their own: on the request workers they would queue behind the plans.
_start_writer = dedicated_thread("parley-starts")


class StartBatcher:
    """Stores the starts of one event loop: those that arrive while a write is under way wait for the next one and
    share its transaction (store_many), so a burst costs a few round trips instead of a few per reply."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.waiting: list[tuple[StartPlan, str, asyncio.Future]] = []
        self.writer: asyncio.Task | None = None

    def store(self, plan: StartPlan, runner: str) -> asyncio.Future:
        stored = self.loop.create_future()
        self.waiting.append((plan, runner, stored))
        if self.writer is None or self.writer.done():
            # A context of its own: the write serves many requests and must not use one request's thread.
            self.writer = self.loop.create_task(self._write(), context=contextvars.Context())
        return stored

    async def _write(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting, []
            by_runner: dict[str, list] = {}
            for item in batch:
                by_runner.setdefault(item[1], []).append(item)
            for runner, items in by_runner.items():
                try:
                    results = await db_call(store_many, [plan for plan, _runner, _stored in items], runner,
                                            _thread=_start_writer)
                except asyncio.CancelledError:
                    for _plan, _runner, stored in items:
                        stored.cancel()
                    raise
                except Exception as exc:
                    results = [exc] * len(items)
                for (_plan, _runner, stored), result in zip(items, results, strict=True):
                    if stored.done():
                        continue
                    if isinstance(result, BaseException):
                        stored.set_exception(result)
                    else:
                        stored.set_result(result)


_batchers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, StartBatcher]" = weakref.WeakKeyDictionary()


def batcher_for(loop: asyncio.AbstractEventLoop) -> StartBatcher:
    batcher = _batchers.get(loop)
    if batcher is None:
        batcher = _batchers[loop] = StartBatcher(loop)
    return batcher


def reply_start_in_loop(loop: asyncio.AbstractEventLoop, *, user, conversation: Conversation,
                        reply_to: Message | None, content: str | None, model: str | None,
                        group_id=None, attachments: list | None = None, parent=BRANCH_TIP,
                        continuation: Message | None = None) -> Generation:
    """From a worker thread of `loop` (db_call, sync_to_async): start a reply whose provider call runs in `loop`.
    Views call it inside their own thread hop, so a request costs one hop.

    The provider call starts while the rows are written: a real provider's first token takes far longer than the
    transaction, so storing adds nothing to the time to first token. Events wait in memory until the rows exist.
    """
    plan = plan_start(user=user, conversation=conversation, reply_to=reply_to, content=content, model=model,
                      group_id=group_id, attachments=attachments, parent=parent, continuation=continuation)
    run = _register(plan, loop)
    loop.call_soon_threadsafe(launch, run, plan.route, plan.request)
    try:
        generation = store_start(plan, run.persister.runner)
    except BaseException:
        # Refused (409) or failed: the provider call is closed and nothing of the run is kept.
        RUNS.pop(run.generation_id, None)
        run.mark_stored(False)
        loop.call_soon_threadsafe(run.stop, GenerationStatus.CANCELLED)
        raise
    run.mark_stored(True)
    return generation


def _register(plan: StartPlan, loop: asyncio.AbstractEventLoop) -> Run:
    run = Run(
        generation_id=str(plan.generation_id), message_id=str(plan.message_id),
        conversation_id=str(plan.conversation.pk), lock_key=str(plan.lock_key), model=plan.model, loop=loop,
        persister=persister_for(loop),
    )
    if plan.continuation is not None:
        # A continued reply stores its earlier text followed by the new (running.drive); only the new streams.
        run.text_before = (plan.continuation.content, plan.continuation.reasoning)
        run.tools_before = {key: value for key, value in (plan.continuation.metadata or {}).items()
                            if key in LOOP_KEYS}
    if plan.tool_offer is not None:
        run.tool_offer = plan.tool_offer  # the tool loop runs in this reply (running._drive)
    RUNS[run.generation_id] = run
    return run
