"""Planning a reply before anything is stored, then storing it: the model, its route, the history, the rows."""
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from chats.generations.errors import ConversationBusy, NoUserMessage
from chats.models import Conversation, Generation, GenerationStatus, Message, MessageRole, MessageStatus
from chats.selectors import conversation_has_active_generation, conversation_stream_holder
from chats.tree import BRANCH_TIP, history_ids
from providers.base import ChatMessage, ChatRequest
from usage.services import usage_reserve


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
    continuation: Message | None = None  # a stopped reply that goes on (continue)

    @property
    def lock_key(self) -> uuid.UUID:
        return self.group_id or self.generation_id


def plan_start(*, user, conversation: Conversation, reply_to: Message | None, content: str | None,
               model: str | None, group_id, attachments: list | None = None, parent=BRANCH_TIP,
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
    holder = conversation_stream_holder(conversation.pk)
    if holder is not None and holder != group_id and conversation_has_active_generation(conversation.pk):
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
    # Last, once nothing else can refuse: 402 budget_exceeded, or the reply's usage row reserving its prompt's cost.
    usage_reserve(user_id=user.pk, model=chosen, request=request, generation_id=plan.generation_id,
                  conversation_id=conversation.pk, compare=group_id is not None)
    return plan


def _parent_or_none(parent):
    """The end of the history a new user message follows: its edit parent, else the whole current branch."""
    return None if parent is BRANCH_TIP else parent


def store_start(plan: StartPlan, runner: str) -> Generation:
    """One transaction: take the conversation (ConversationBusy if taken), store the user message (if any), the
    streaming assistant message and the generation."""
    from chats.services import message_create

    conversation, reply_to = plan.conversation, plan.reply_to
    with transaction.atomic():
        take_conversation(conversation=conversation, lock_key=plan.lock_key)
        if plan.continuation is not None:
            return _store_continuation(plan, runner)
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


def _store_continuation(plan: StartPlan, runner: str) -> Generation:
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
