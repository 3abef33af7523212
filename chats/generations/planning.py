"""Planning a reply before anything is stored, then storing it: the model, its route, the history, the rows."""
import logging
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Q, Value, When
from django.utils import timezone

from chats.generations.errors import ConversationBusy, NoUserMessage
from chats.generations.tool_loop import ToolOffer, replay_reply
from chats.models import Conversation, Generation, GenerationStatus, Message, MessageRole, MessageStatus
from chats.selectors import conversation_has_active_generation, conversation_stream_holder
from chats.tree import BRANCH_TIP, history_ids
from core.db_workers import dedicated_thread
from providers.base import ChatMessage, ChatRequest
from usage.models import UsageRecord
from usage.services import usage_release, usage_reservation

logger = logging.getLogger("parley.generations")


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
    from uploads.selectors import uploads_by_id

    messages = conversation.messages.filter(role__in=[MessageRole.USER, MessageRole.ASSISTANT, MessageRole.TOOL])
    messages = messages.filter(pk__in=history_ids(conversation_id=conversation.pk,
                                                  up_to_id=up_to.pk if up_to is not None else None))
    # An assistant turn with no text is left out, unless it ran tools (their calls and results are replayed).
    rows = [row for row in messages.order_by("created_at", "id").values_list(
        "pk", "role", "content", "reasoning", "metadata", "selected", "attachments")
        if row[1] != MessageRole.ASSISTANT or row[2] or (row[4] or {}).get("tool_results")]
    wanted = [item["id"] for row in rows if row[1] == MessageRole.USER and attachments is not None
              for item in row[6] or () if isinstance(item, dict) and "id" in item]
    files = uploads_by_id(wanted) if wanted else {}
    history = []
    for pk, role, content, reasoning, metadata, _selected, listed in rows:
        uploads = [files[item["id"]] for item in listed or () if isinstance(item, dict) and item.get("id") in files]
        current = up_to is not None and pk == up_to.pk
        if role == MessageRole.ASSISTANT:
            history.extend(replay_reply(content=content, reasoning=reasoning, metadata=metadata or {}))
            continue
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
    continuation: Message | None = None  # a stopped reply that goes on (continue)
    tool_offer: ToolOffer | None = None  # the MCP tools this reply may call (params.tools, or the request's)
    usage_row: object = None  # its usage reservation (usage.services.usage_reservation), maybe not stored yet

    @property
    def lock_key(self) -> uuid.UUID:
        return self.group_id or self.generation_id


def plan_start(*, user, conversation: Conversation, reply_to: Message | None, content: str | None,
               model: str | None, group_id, attachments: list | None = None, parent=BRANCH_TIP,
               continuation: Message | None = None, conversation_fresh: bool = False,
               tools: list[str] | None = None) -> StartPlan:
    """Reads only: the model and its route (ProviderError if unusable), the new message's attachments (400 if
    not the caller's or not readable by the model), the tools it may call (`tools`, else the conversation's
    `params.tools`; 400 with the spec's error code if one is not the user's to use), the history, and a first busy
    check (from `conversation` itself when the caller has just read it: `conversation_fresh`)."""
    from providers.gateway import resolve_route_cached
    from uploads.attachments import AttachmentReader
    from uploads.selectors import attachments_for_message

    if content is None and reply_to is None:
        raise NoUserMessage()
    chosen = resolve_model(conversation=conversation, reply_to=reply_to, model=model)
    route = resolve_route_cached(model=chosen, user_id=user.pk)
    holder = conversation.active_stream if conversation_fresh else conversation_stream_holder(conversation.pk)
    if holder is not None and holder != group_id and conversation_has_active_generation(conversation.pk):
        raise ConversationBusy()
    params = dict(conversation.params or {})
    tool_offer = tool_offer_for(user=user, specs=tools if tools is not None else params.pop("tools", None),
                                approval=params.pop("tool_approval", None))
    params.pop("tools", None)
    uploads = attachments_for_message(owner=user, upload_ids=attachments or [])
    reader = AttachmentReader(route=route, user_id=user.pk)
    history_end = reply_to if content is None else _parent_or_none(parent)
    history = chat_history(conversation=conversation, up_to=history_end, attachments=reader)
    if continuation is not None:
        history.extend(replay_reply(content=continuation.content, reasoning=continuation.reasoning,
                                    metadata=continuation.metadata or {}))
    if content is not None:
        history.append(ChatMessage(role=MessageRole.USER, content=content,
                                   attachments=reader.read(uploads, current=True)))
    if tool_offer is not None:
        params["tools"] = tool_offer.wire_tools()  # what the usage estimate counts; the loop sends the same
    request = ChatRequest(messages=history, system=conversation.system_prompt, params=params)
    plan = StartPlan(user=user, conversation=conversation, reply_to=reply_to, content=content,
                     requested_model=(model or "").strip(), model=chosen, group_id=group_id, route=route,
                     request=request, uploads=uploads, parent=parent, continuation=continuation,
                     tool_offer=tool_offer)
    if continuation is not None:
        plan.message_id = continuation.pk
    # Last, once nothing else can refuse: 402 budget_exceeded, or the reply's usage row reserving its prompt's cost
    # (stored with the start's rows when no budget needed it stored now).
    plan.usage_row = usage_reservation(user_id=user.pk, model=chosen, request=request,
                                       generation_id=plan.generation_id, conversation_id=conversation.pk,
                                       compare=group_id is not None)
    return plan


def tool_offer_for(*, user, specs, approval) -> ToolOffer | None:
    """The tools a reply may call, or None when it is offered none."""
    from chats.validation import validate_tool_specs

    if not specs:
        return None
    return ToolOffer(offered=validate_tool_specs(specs, user=user), approval=approval or "auto")


def _parent_or_none(parent):
    """The end of the history a new user message follows: its edit parent, else the whole current branch."""
    return None if parent is BRANCH_TIP else parent


def store_start(plan: StartPlan, runner: str) -> Generation:
    """One transaction: take the conversation (ConversationBusy if taken), store the user message (if any), the
    streaming assistant message and the generation (or, continuing, the stopped reply's new generation). A refused
    start gives back its usage reservation."""
    try:
        with transaction.atomic():
            take_conversation(conversation=plan.conversation, lock_key=plan.lock_key)
            if plan.continuation is not None:
                UsageRecord.objects.bulk_create(_unsaved_usage_rows([plan]))
                return _store_continuation(plan, runner)
            message, generation = _reply_rows(plan, runner, timezone.now())
            message.save(force_insert=True)
            generation.save(force_insert=True)
            UsageRecord.objects.bulk_create(_unsaved_usage_rows([plan]))
            _announce_on_commit([message.reply_to, message] if plan.content is not None else [message], generation)
    except BaseException:
        usage_release(generation_id=plan.generation_id)
        raise
    return generation


def store_many(plans: list[StartPlan], runner: str) -> list:
    """Store starts that arrived together in one transaction (a burst shares its round trips: one insert for
    all assistant messages, one for all generations). Each result is the plan's Generation, or the exception that
    refused it (ConversationBusy). A start with attachments, an edit or a continuation is stored alone."""
    results: dict[int, object] = {}
    together = [index for index, plan in enumerate(plans) if _plain(plan)]
    alone = [index for index, plan in enumerate(plans) if not _plain(plan)]
    if len(together) > 1:
        try:
            results.update(_store_together([(index, plans[index]) for index in together], runner))
        except Exception:
            logger.warning("Storing %d starts together failed; storing each alone", len(together), exc_info=True)
            alone += together
    else:
        alone += together
    for index in alone:
        try:
            results[index] = store_start(plans[index], runner)
        except Exception as exc:
            results[index] = exc
    return [results[index] for index in range(len(plans))]


def _plain(plan: StartPlan) -> bool:
    """A start that can share a batch: no attachments (attaching can fail after writes), no edit parent, no
    continuation."""
    return not plan.uploads and plan.parent is BRANCH_TIP and plan.continuation is None


def _store_together(indexed: list[tuple[int, StartPlan]], runner: str) -> dict[int, object]:
    from chats.services import user_messages_create

    results: dict[int, object] = {}
    rows = []
    now = timezone.now()
    with transaction.atomic():
        # New messages of single replies (the burst case): their conversations taken in two statements, their
        # user messages stored in two more. Anything else (a compare's siblings, a reply to an earlier message, a
        # conversation that was not free) goes through take_conversation one by one, in the same transaction.
        simple = [(index, plan) for index, plan in indexed if plan.content is not None and plan.group_id is None]
        taken = _take_free_conversations([plan for _index, plan in simple])
        won = {index for index, plan in simple if taken.get(plan.conversation.pk) == str(plan.lock_key)}
        rest = [(index, plan) for index, plan in indexed if index not in won]
        simple = [(index, plan) for index, plan in simple if index in won]
        held = {plan.conversation.pk: plan.lock_key for _index, plan in simple}
        for index, plan in rest:
            try:
                # Refused before anything of this plan is written, so the others' transaction stays whole.
                if held.setdefault(plan.conversation.pk, plan.lock_key) != plan.lock_key:
                    raise ConversationBusy()
                take_conversation(conversation=plan.conversation, lock_key=plan.lock_key)
            except ConversationBusy as exc:
                results[index] = exc
                continue
            rows.append((index, None, *_reply_rows(plan, runner, now)))
        questions = user_messages_create(items=[(plan.conversation, plan.content, plan.requested_model)
                                                for _index, plan in simple])
        for (index, plan), question in zip(simple, questions, strict=True):
            rows.append((index, question, *_reply_rows(plan, runner, now, reply_to=question)))
        Message.objects.bulk_create([message for _index, _question, message, _generation in rows])
        Generation.objects.bulk_create([generation for _index, _question, _message, generation in rows])
        stored = {generation.pk for _index, _question, _message, generation in rows}
        UsageRecord.objects.bulk_create(_unsaved_usage_rows(
            [plan for _index, plan in indexed if plan.generation_id in stored]))
        for _index, question, message, generation in rows:
            _announce_on_commit([question, message] if question is not None else [message], generation)
    plans = dict(indexed)
    for index in results:  # refused (ConversationBusy): they never ran
        usage_release(generation_id=plans[index].generation_id)
    results.update({index: generation for index, _question, _message, generation in rows})
    return results


def _unsaved_usage_rows(plans: list[StartPlan]) -> list:
    return [plan.usage_row for plan in plans if plan.usage_row is not None and plan.usage_row._state.adding]


def _take_free_conversations(plans: list[StartPlan]) -> dict:
    """Mark the free conversations of `plans` as streaming (the first plan of each wins); returns conversation →
    lock key for those taken."""
    wanted: dict = {}
    for plan in plans:
        wanted.setdefault(plan.conversation.pk, str(plan.lock_key))
    if not wanted:
        return {}
    Conversation.objects.filter(pk__in=list(wanted), active_stream__isnull=True).update(
        active_stream=Case(*(When(pk=pk, then=Value(uuid.UUID(lock))) for pk, lock in wanted.items())))
    holders = Conversation.objects.filter(pk__in=list(wanted)).values_list("pk", "active_stream")
    return {pk: str(holder) for pk, holder in holders if holder is not None and str(holder) == wanted[pk]}


def _reply_rows(plan: StartPlan, runner: str, now, reply_to: Message | None = None) -> tuple[Message, Generation]:
    """Store the user message (if the plan has one and it is not stored yet: `reply_to`) and settle which sibling
    answer is selected; returns the assistant message and the generation, not yet saved."""
    from chats.services import message_create

    conversation = plan.conversation
    if reply_to is not None:
        selected = True
    elif plan.content is not None:
        reply_to = message_create(conversation=conversation, content=plan.content, role=MessageRole.USER,
                                  model=plan.requested_model, attachments=plan.uploads, parent=plan.parent)
        selected = True
    else:
        reply_to = plan.reply_to
        siblings = Message.objects.filter(reply_to=reply_to, role=MessageRole.ASSISTANT)
        if plan.group_id is None:
            siblings.update(selected=False)
            selected = True
        else:
            selected = not siblings.filter(selected=True).exists()
    message = Message(
        id=plan.message_id, conversation=conversation, role=MessageRole.ASSISTANT, model=plan.model,
        status=MessageStatus.STREAMING, reply_to=reply_to, parent=reply_to, selected=selected,
    )
    generation = Generation(
        id=plan.generation_id, owner=plan.user, conversation=conversation, message=message, model=plan.model,
        status=GenerationStatus.RUNNING, group_id=plan.group_id, runner=runner, started_at=now, heartbeat_at=now,
    )
    return message, generation


def _store_continuation(plan: StartPlan, runner: str) -> Generation:
    """Continue: the stopped reply streams again under a new generation (the earlier ones stay the message's)."""
    message = plan.continuation
    Message.objects.filter(pk=message.pk).update(status=MessageStatus.STREAMING, error="", error_code="",
                                                 finish_reason="")
    now = timezone.now()
    generation = Generation.objects.create(
        id=plan.generation_id, owner=plan.user, conversation=plan.conversation, message=message, model=plan.model,
        status=GenerationStatus.RUNNING, runner=runner, started_at=now, heartbeat_at=now,
        content_before_chars=len(message.content), reasoning_before_chars=len(message.reasoning),
    )
    message.status = MessageStatus.STREAMING
    _announce_on_commit([message], generation)
    return generation


def _announce_on_commit(messages: list[Message], generation: Generation) -> None:
    """Every open conversation WebSocket hears of the new messages once they are stored (chats.live)."""
    # On a thread of their own: building the frames reads the tree, which must not hold up the start's writes.
    transaction.on_commit(lambda: _announcer.submit(_announce, messages, generation.pk))


def _announce(messages: list[Message], generation_id) -> None:
    from chats.live import announce_messages

    try:
        announce_messages(messages, generation_id=generation_id)
    except Exception:  # an executor would keep the error to itself
        logger.exception("Announcing the new messages of generation %s failed", generation_id)


_announcer = dedicated_thread("parley-announce")


def take_conversation(*, conversation: Conversation, lock_key) -> None:
    """Mark the conversation as streaming, atomically in the database; ConversationBusy if it already is."""
    taken = Conversation.objects.filter(
        Q(active_stream__isnull=True) | Q(active_stream=lock_key), pk=conversation.pk
    ).update(active_stream=lock_key)
    if taken:
        return
    # The holder may have ended without releasing (a crash): take it over only if nothing runs there.
    if conversation_has_active_generation(conversation.pk):
        raise ConversationBusy()
    holder = conversation_stream_holder(conversation.pk)
    if not Conversation.objects.filter(pk=conversation.pk, active_stream=holder).update(active_stream=lock_key):
        raise ConversationBusy()
