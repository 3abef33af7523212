"""Starting a reply: plan it, start the provider call in the loop it will run in, store its rows."""
import asyncio
import uuid

from chats.generations.persistence import persister_for
from chats.generations.planning import StartPlan, plan_start, store_start
from chats.generations.running import launch, loop_for_sync_caller, note_server_loop
from chats.generations.state import RUNS, Run
from chats.models import Conversation, Generation, GenerationStatus, Message
from chats.tree import BRANCH_TIP
from core.db_workers import db_call
from usage.services import usage_release


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
                            group_id: uuid.UUID | None = None) -> Generation:
    """Start a reply from async code; the provider call runs as a task of the running loop."""
    return await _start_async(user=user, conversation=conversation, reply_to=reply_to, content=None, model=model,
                              group_id=group_id)


async def aconversation_reply_start(*, user, conversation: Conversation, content: str,
                                    model: str | None = None, attachments: list | None = None,
                                    parent=BRANCH_TIP) -> Generation:
    """`parent` (an edit): the new user message goes under that message (None: a new first message)."""
    return await _start_async(user=user, conversation=conversation, reply_to=None, content=content, model=model,
                              group_id=None, attachments=attachments, parent=parent)


def _start_sync(**kwargs) -> Generation:
    loop = loop_for_sync_caller()
    plan = plan_start(**kwargs)
    try:
        generation = store_start(plan, persister_for(loop).runner)
    except BaseException:
        usage_release(generation_id=plan.generation_id)
        raise
    run = _register(plan, loop)
    run.mark_stored(True)
    loop.call_soon_threadsafe(launch, run, plan.route, plan.request)
    return generation


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
        usage_release(generation_id=plan.generation_id)
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
    RUNS[run.generation_id] = run
    return run
