"""Read-only share links (SPEC §8): a snapshot of the current branch at share time, under an unguessable token."""
import secrets

from django.db import transaction
from django.http import Http404

from chats.models import Conversation, ConversationShare, MessageRole
from chats.tree import branch_messages


def _snapshot(conversation: Conversation) -> dict:
    messages = [
        {"role": message.role, "content": message.content, "model": message.model,
         "created_at": message.created_at.isoformat()}
        for message in branch_messages(conversation=conversation)
        if message.role in (MessageRole.USER, MessageRole.ASSISTANT) and message.content
    ]
    return {"title": conversation.title or "Conversation", "messages": messages}


@transaction.atomic
def share_create(*, conversation: Conversation) -> ConversationShare:
    """A new link showing the branch as it is now; an earlier link of the conversation stops working."""
    ConversationShare.objects.filter(conversation=conversation).delete()
    return ConversationShare.objects.create(conversation=conversation, token=secrets.token_urlsafe(24),
                                            snapshot=_snapshot(conversation))


def share_revoke(*, conversation: Conversation) -> None:
    deleted, _ = ConversationShare.objects.filter(conversation=conversation).delete()
    if not deleted:
        raise Http404("This conversation is not shared.")


def share_get(*, token: str) -> ConversationShare:
    share = ConversationShare.objects.filter(token=str(token)[:64]).first() if token else None
    if share is None:
        raise Http404("No such shared conversation.")
    return share
