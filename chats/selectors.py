"""Reads of conversations, messages, presets and generations, always scoped to their owner."""
import uuid

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import Http404

from chats.models import Conversation, Generation, GenerationSlice, GenerationStatus, Message, MessageRole, Preset


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


# --- generations -----------------------------------------------------------------------------------------------------

ACTIVE = [GenerationStatus.QUEUED, GenerationStatus.RUNNING]


def conversation_for_streaming(*, user, conversation_id) -> Conversation:
    """The user's conversation (one plain query, nothing annotated), or Http404."""
    try:
        return Conversation.objects.get(pk=uuid.UUID(str(conversation_id)), owner=user)
    except (ValueError, AttributeError, Conversation.DoesNotExist):
        raise Http404("No such conversation.")


def latest_user_message(*, conversation: Conversation) -> Message | None:
    return conversation.messages.filter(role=MessageRole.USER).order_by("-created_at", "-id").first()


def latest_generation(*, conversation: Conversation) -> Generation | None:
    return conversation.generations.order_by("-created_at").first()


def running_generation_id(*, conversation: Conversation):
    return conversation.generations.filter(status__in=ACTIVE).values_list("pk", flat=True).first()


def conversation_has_active_generation(conversation_id) -> bool:
    return Generation.objects.filter(conversation_id=conversation_id, status__in=ACTIVE).exists()


def conversation_stream_holder(conversation_id):
    """The lock key of the reply (or compare) streaming into the conversation, or None."""
    return Conversation.objects.filter(pk=conversation_id).values_list("active_stream", flat=True).first()


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


def generation_is_active(generation_id) -> bool:
    return Generation.objects.filter(pk=generation_id, status__in=ACTIVE).exists()


def generation_runner(generation_id) -> str:
    """The channel of the process running the generation ("" when it is over or ran without a shared layer)."""
    return Generation.objects.filter(pk=generation_id, status__in=ACTIVE).values_list("runner", flat=True).first() or ""


def generation_logged_events(generation_id, *, after: int = 0) -> list[dict]:
    """The generation's persisted events after seq `after`, in order."""
    rows = GenerationSlice.objects.filter(generation_id=generation_id, last_seq__gt=after).order_by("first_seq")
    return [event for events in rows.values_list("events", flat=True) for event in events if event["seq"] > after]


def generation_logged_events_or_over(generation_id, *, after: int) -> tuple[list[dict], bool]:
    """The logged events after `after`, and whether the generation is over or gone (read first: its end state and
    last slice are written in one transaction, so an over generation's log is already complete)."""
    over = not generation_is_active(generation_id)
    return generation_logged_events(generation_id, after=after), over
