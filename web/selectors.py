"""Reads behind the UI pages: sidebar groups, a conversation with its messages, first-run state."""
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from chats.models import Conversation, Generation, GenerationStatus, Message
from merging.models import MergeHistory
from providers.selectors import configured_providers

SIDEBAR_LIMIT = 200


def sidebar_conversation_groups(*, user, q: str = "") -> list[tuple[str, list[Conversation]]]:
    """The user's conversations, newest first, grouped by age; `q` searches titles and message text."""
    qs = Conversation.objects.filter(owner=user).only("id", "title", "updated_at")
    if q:
        matching = Message.objects.filter(conversation__owner=user, content__icontains=q).values("conversation_id")
        qs = qs.filter(Q(title__icontains=q) | Q(id__in=matching))
    conversations = list(qs.order_by("-updated_at")[:SIDEBAR_LIMIT])
    if q:
        return [("Results", conversations)] if conversations else []
    today = timezone.localdate()
    buckets = {"Today": [], "Yesterday": [], "Previous 7 days": [], "Older": []}
    for c in conversations:
        day = timezone.localdate(c.updated_at)
        if day == today:
            buckets["Today"].append(c)
        elif day == today - timedelta(days=1):
            buckets["Yesterday"].append(c)
        elif day > today - timedelta(days=7):
            buckets["Previous 7 days"].append(c)
        else:
            buckets["Older"].append(c)
    return [(name, items) for name, items in buckets.items() if items]


def conversation_page_data(*, conversation: Conversation) -> dict:
    """What the conversation page needs to draw and to resume: messages, running generations, sources."""
    messages = list(conversation.messages.all().order_by("created_at", "id"))
    running = {
        g.message_id: g
        for g in Generation.objects.filter(
            conversation=conversation, status__in=[GenerationStatus.QUEUED, GenerationStatus.RUNNING]
        )
    }
    rows = []
    for m in messages:
        generation = running.get(m.id)
        rows.append(
            {
                "id": str(m.id),
                "role": m.role,
                "content": m.content,
                "reasoning": m.reasoning,
                "model": m.model,
                "status": m.status,
                "error": m.error,
                "error_code": m.error_code,
                "usage": m.usage or {},
                "cost": float(m.cost) if m.cost is not None else None,
                "latency_ms": m.latency_ms,
                "ttft_ms": m.ttft_ms,
                "reply_to": str(m.reply_to_id) if m.reply_to_id else None,
                "parent_id": str(m.parent_id) if m.parent_id else None,
                "selected": m.selected,
                "finish_reason": m.finish_reason,
                "fused": bool(((m.metadata or {}).get("merge") or {}).get("fused_from")),
                "generation_id": str(generation.id) if generation else None,
                # Only what the page shows; the rest of metadata (provider signatures…) stays on the server.
                "citations": (m.metadata or {}).get("citations") or [],
                "tool_calls": (m.metadata or {}).get("tool_calls") or [],
                "tool_results": (m.metadata or {}).get("tool_results") or [],
                "attachments": m.attachments or [],
                "created_at": m.created_at.isoformat(),
            }
        )
    sources = [
        {"id": str(h.source_conversation_id), "title": str(h.source_conversation)}
        for h in MergeHistory.objects.filter(result_conversation=conversation, source_conversation__isnull=False)
        .select_related("source_conversation")
    ]
    return {
        "id": str(conversation.id),
        "title": conversation.title,
        "system_prompt": conversation.system_prompt,
        "default_model": conversation.default_model,
        "params": conversation.params or {},
        "messages": rows,
        "sources": sources,
    }


def provider_configured(*, user) -> bool:
    """Whether any provider can answer for this user: own or shared key, custom endpoint, or environment."""
    return any(configured_providers(user_id=user.pk).values())
