"""Reads of conversations, messages and presets, always scoped to their owner."""
import uuid

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import Http404

from chats.models import Conversation, Message, Preset


def _uuid_or_404(value) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise Http404("No such object.")


def conversation_list(*, user, q: str = "") -> QuerySet[Conversation]:
    """The user's conversations, most recently active first; `q` matches titles and message text."""
    conversations = Conversation.objects.filter(owner=user)
    q = (q or "").strip()
    if q:
        in_messages = Message.objects.filter(conversation=OuterRef("pk"), content__icontains=q)
        conversations = conversations.filter(Q(title__icontains=q) | Exists(in_messages))
    return (
        conversations.annotate(message_count=Count("messages"))
        .prefetch_related("merged_from")
        .order_by("-updated_at", "-created_at", "-id")
    )


def conversation_get(*, user, conversation_id) -> Conversation:
    """The user's conversation, or Http404 (also for another user's or a malformed id)."""
    pk = _uuid_or_404(conversation_id)
    try:
        return conversation_list(user=user).get(pk=pk)
    except Conversation.DoesNotExist:
        raise Http404("No such conversation.")


def conversation_counts(*, user) -> dict[str, int]:
    return {
        "conversations": Conversation.objects.filter(owner=user).count(),
        "total_messages": Message.objects.filter(conversation__owner=user).count(),
    }


def message_list(*, conversation: Conversation) -> QuerySet[Message]:
    """The conversation's history in the order it happened."""
    return conversation.messages.order_by("created_at", "id")


def preset_list(*, user) -> QuerySet[Preset]:
    return Preset.objects.filter(owner=user).order_by("-updated_at", "-id")


def preset_get(*, user, preset_id) -> Preset:
    try:
        return preset_list(user=user).get(pk=int(preset_id))
    except (Preset.DoesNotExist, TypeError, ValueError):
        raise Http404("No such preset.")
