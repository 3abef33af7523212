"""Writes of conversations, user messages and presets; each runs in one transaction."""
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from chats.models import Conversation, Message, MessageRole, Preset
from chats.tree import BRANCH_TIP
from core.exceptions import Conflict
from core.rows import save_fields_or_404

AUTO_TITLE_CHARS = 80


@transaction.atomic
def conversation_create(
    *, owner, title: str = "", system_prompt: str = "", default_model: str = "", params: dict | None = None
) -> Conversation:
    """A new conversation; without a `default_model` it starts with the owner's (the settings page's) default."""
    from accounts.services import preferences_get

    return Conversation.objects.create(
        owner=owner, title=title, system_prompt=system_prompt,
        default_model=default_model or preferences_get(user=owner).default_model, params=params or {},
    )


_CONVERSATION_FIELDS = {"title", "system_prompt", "default_model", "params"}


@transaction.atomic
def conversation_update(*, conversation: Conversation, **changes) -> Conversation:
    """Change any of title, system_prompt, default_model, params (params are replaced whole)."""
    unknown = set(changes) - _CONVERSATION_FIELDS
    if unknown:
        raise TypeError(f"conversation_update got unknown fields: {sorted(unknown)}")
    for field, value in changes.items():
        setattr(conversation, field, value)
    save_fields_or_404(conversation, update_fields=[*changes, "updated_at"], missing="Conversation not found.")
    return conversation


def conversation_delete(*, conversation: Conversation) -> None:
    """Deletes the conversation with its messages, generations and uploaded files (one transaction; the files
    leave storage once it commits)."""
    from uploads.services import uploads_delete_for_messages

    with transaction.atomic():
        uploads_delete_for_messages(conversation.messages.all())
        conversation.delete()


def _auto_title(content: str) -> str:
    first_line = content.strip().splitlines()[0].strip()
    return first_line if len(first_line) <= AUTO_TITLE_CHARS else first_line[: AUTO_TITLE_CHARS - 1] + "…"


@transaction.atomic
def message_create(
    *,
    conversation: Conversation,
    content: str,
    role: str = MessageRole.USER,
    model: str = "",
    attachments: list | None = None,
    parent=BRANCH_TIP,
) -> Message:
    """Add a message; the conversation becomes the most recent and, if untitled, takes its first words.
    `attachments` are Uploads (checked by uploads.selectors.attachments_for_message), linked to the message.
    It follows the tip of the current branch, or `parent` (a Message, or None for a new first message) as an
    edit does; either way it becomes the selected one of its siblings."""
    from chats.tree import branch_tip, select_among_siblings
    from uploads.services import attachment_summary, uploads_attach

    if parent is BRANCH_TIP:
        parent = branch_tip(conversation_id=conversation.pk)
    uploads = attachments or []
    message = Message(
        conversation=conversation, role=role, content=content, model=model, parent=parent,
        attachments=[attachment_summary(upload) for upload in uploads],
    )
    message.is_root = parent is None
    message.save(force_insert=True)
    select_among_siblings(message)
    uploads_attach(message=message, uploads=uploads)
    changes = {"updated_at": timezone.now()}
    if not conversation.title and role == MessageRole.USER and content.strip():
        changes["title"] = _auto_title(content)
    Conversation.objects.filter(pk=conversation.pk).update(**changes)
    for field, value in changes.items():
        setattr(conversation, field, value)
    return message


@transaction.atomic
def messages_clear(*, conversation: Conversation) -> int:
    from uploads.services import uploads_delete_for_messages

    uploads_delete_for_messages(conversation.messages.all())
    deleted, _ = conversation.messages.all().delete()
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=timezone.now())
    return deleted


def preset_create(*, owner, name: str, model: str = "", system_prompt: str = "", params: dict | None = None) -> Preset:
    try:
        with transaction.atomic():
            return Preset.objects.create(
                owner=owner, name=name, model=model, system_prompt=system_prompt, params=params or {}
            )
    except IntegrityError:
        raise Conflict(f"You already have a preset named '{name}'.", code="duplicate_name")


_PRESET_FIELDS = {"name", "model", "system_prompt", "params"}


def preset_update(*, preset: Preset, **changes) -> Preset:
    unknown = set(changes) - _PRESET_FIELDS
    if unknown:
        raise TypeError(f"preset_update got unknown fields: {sorted(unknown)}")
    for field, value in changes.items():
        setattr(preset, field, value)
    try:
        with transaction.atomic():
            save_fields_or_404(preset, update_fields=[*changes, "updated_at"], missing="Preset not found.")
    except IntegrityError:
        raise Conflict(f"You already have a preset named '{preset.name}'.", code="duplicate_name")
    return preset


def preset_delete(*, preset: Preset) -> None:
    preset.delete()


def user_messages_create(*, items: list[tuple[Conversation, str, str]]) -> list[Message]:
    """`message_create` for many (conversation, content, model) at once, without attachments: one insert for the
    messages and one update for their conversations (most recent now; an untitled one takes its first words). Each
    follows the tip of its conversation's current branch (bulk_create skips Message.save, which would place it)."""
    from chats.tree import Tree

    if not items:
        return []
    now = timezone.now()
    messages = Message.objects.bulk_create([
        Message(conversation=conversation, role=MessageRole.USER, content=content, model=model, attachments=[],
                parent_id=Tree.of(conversation.pk).tip())
        for conversation, content, model in items
    ])
    titles = {conversation.pk: _auto_title(content) for conversation, content, _model in items
              if not conversation.title and content.strip()}
    title = Case(*(When(pk=pk, then=Value(text)) for pk, text in titles.items()), default=F("title"))
    Conversation.objects.filter(pk__in={conversation.pk for conversation, _content, _model in items}).update(
        updated_at=now, **({"title": title} if titles else {}))
    for conversation, _content, _model in items:
        conversation.updated_at = now
        if conversation.pk in titles:
            conversation.title = titles[conversation.pk]
    return messages
