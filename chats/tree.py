"""The conversation tree (SPEC §8): branches, siblings, selection and deleting a branch.

Every message has a `parent` (null for a first message); messages with the same parent are siblings and one of
them is `selected`. The current branch is the path from the root that takes the selected sibling at each level
(the oldest marked one, or the newest if none is marked). The engine's `chat_history` reads the branch from here.
"""
from collections import defaultdict
from dataclasses import dataclass

from django.db import transaction
from django.http import Http404
from django.utils import timezone

from chats.models import Conversation, Generation, GenerationStatus, Message, MessageRole, MessageStatus
from chats.selectors import _uuid_or_404
from core.exceptions import Conflict

BRANCH_TIP = object()  # a new message's default parent: the tip of the current branch
CONTINUABLE_STATUSES = {MessageStatus.CANCELLED, MessageStatus.INTERRUPTED}


class BranchBusy(Conflict):
    default_detail = "A reply is still streaming in this branch; wait for it or cancel it."
    default_code = "conversation_busy"


class NotContinuable(Conflict):
    default_detail = "Only a reply that was stopped, interrupted or cut off at its length limit can go on."
    default_code = "not_continuable"


@dataclass(frozen=True)
class Node:
    id: object
    parent_id: object
    selected: bool


class Tree:
    """The shape of one conversation's tree, read in one query (ids, parents, selection, in creation order)."""

    def __init__(self, rows: list[Node]):
        self.nodes = {node.id: node for node in rows}
        self.children: dict = defaultdict(list)
        for node in rows:
            self.children[node.parent_id].append(node)

    @classmethod
    def of(cls, conversation_id) -> "Tree":
        rows = Message.objects.filter(conversation_id=conversation_id).order_by("created_at", "id")
        return cls([Node(*row) for row in rows.values_list("id", "parent_id", "selected")])

    def chosen_child(self, parent_id):
        children = self.children.get(parent_id) or []
        # Kept right, one sibling is selected; older rows may mark several (the first of a compare wins then).
        selected = [node for node in children if node.selected]
        if selected:
            return selected[0]
        return children[-1] if children else None

    def branch(self, start=None) -> list:
        """Ids of the current branch from the root (or from below `start`), in order."""
        path = []
        node = self.chosen_child(start)
        while node is not None:
            path.append(node.id)
            node = self.chosen_child(node.id)
        return path

    def path_to(self, message_id) -> list:
        """Ids from the root down to `message_id`, inclusive."""
        path = []
        node = self.nodes.get(message_id)
        while node is not None:
            path.append(node.id)
            node = self.nodes.get(node.parent_id)
        return path[::-1]

    def tip(self):
        branch = self.branch()
        return branch[-1] if branch else None

    def sibling_info(self) -> dict:
        """{message id: (sibling_index, sibling_count)}, the index counted from 0 in creation order."""
        info = {}
        for siblings in self.children.values():
            for index, node in enumerate(siblings):
                info[node.id] = (index, len(siblings))
        return info

    def subtree(self, message_id) -> list:
        found, stack = [], [message_id]
        while stack:
            current = stack.pop()
            found.append(current)
            stack.extend(node.id for node in self.children.get(current, ()))
        return found


# --- selectors -------------------------------------------------------------------------------------------------------


def branch_messages(*, conversation: Conversation):
    """The current branch as a queryset, oldest first (a parent is always older than its children)."""
    ids = Tree.of(conversation.pk).branch()
    return conversation.messages.filter(pk__in=ids).order_by("created_at", "id")


def tree_messages(*, conversation: Conversation):
    return conversation.messages.order_by("created_at", "id")


def branch_tip(*, conversation_id) -> Message | None:
    tip = Tree.of(conversation_id).tip()
    return Message.objects.filter(pk=tip).first() if tip else None


def history_ids(*, conversation_id, up_to_id=None) -> list:
    """What a reply sees: the path to `up_to_id`, or the whole current branch."""
    tree = Tree.of(conversation_id)
    return tree.path_to(up_to_id) if up_to_id is not None else tree.branch()


def sibling_info(*, conversation_id) -> dict:
    return Tree.of(conversation_id).sibling_info()


def message_get(*, user, message_id) -> Message:
    """The user's message, or Http404 (also for another user's or a malformed id)."""
    pk = _uuid_or_404(message_id)
    try:
        return Message.objects.select_related("conversation").get(pk=pk, conversation__owner=user)
    except Message.DoesNotExist:
        raise Http404("No such message.")


def message_parent_get(*, user, conversation: Conversation, parent_id) -> Message | None:
    """The parent named by an edit (`parent_id`), which must be in `conversation`; None names the root."""
    if parent_id is None:
        return None
    pk = _uuid_or_404(parent_id)
    try:
        return conversation.messages.get(pk=pk)
    except Message.DoesNotExist:
        raise Http404("No such parent message in this conversation.")


def _streaming_in(ids) -> bool:
    active = [GenerationStatus.QUEUED, GenerationStatus.RUNNING]
    return Generation.objects.filter(message_id__in=ids, status__in=active).exists() or Message.objects.filter(
        pk__in=ids, status=MessageStatus.STREAMING).exists()


# --- services --------------------------------------------------------------------------------------------------------


def select_among_siblings(message: Message) -> None:
    """Make `message` the selected one of its siblings (call inside a transaction)."""
    siblings = Message.objects.filter(conversation_id=message.conversation_id, parent_id=message.parent_id)
    siblings.exclude(pk=message.pk).update(selected=False)
    if not message.selected:
        Message.objects.filter(pk=message.pk).update(selected=True)
        message.selected = True


@transaction.atomic
def message_select(*, message: Message) -> Message:
    """Select any message, and with it the branch below it (the path most recently selected under it)."""
    select_among_siblings(message)
    Conversation.objects.filter(pk=message.conversation_id).update(updated_at=timezone.now())
    return message


def message_delete(*, message: Message) -> int:
    """Delete the message and everything under it; 409 while a reply streams in that branch. The sibling left
    newest becomes selected so the conversation still has a branch there."""
    from uploads.services import uploads_delete_for_messages

    with transaction.atomic():
        ids = Tree.of(message.conversation_id).subtree(message.pk)
        if _streaming_in(ids):
            raise BranchBusy()
        uploads_delete_for_messages(Message.objects.filter(pk__in=ids))
        parent_id, was_selected = message.parent_id, message.selected
        Message.objects.filter(pk__in=ids).delete()
        if was_selected:
            rest = Message.objects.filter(conversation_id=message.conversation_id, parent_id=parent_id)
            newest = rest.order_by("-created_at", "-id").first()
            if newest is not None:
                select_among_siblings(newest)
        Conversation.objects.filter(pk=message.conversation_id).update(updated_at=timezone.now())
    return len(ids)


def check_regenerable(message: Message) -> Message:
    """The user message a regenerate answers again (400 for a message that is not an answer)."""
    from rest_framework.exceptions import ValidationError

    if message.role != MessageRole.ASSISTANT or message.parent_id is None:
        raise ValidationError("Only an assistant reply can be regenerated.", code="not_an_answer")
    return message.parent


def check_continuable(message: Message) -> None:
    from rest_framework.exceptions import ValidationError

    if message.role != MessageRole.ASSISTANT:
        raise ValidationError("Only an assistant reply can go on.", code="not_an_answer")
    if message.status not in CONTINUABLE_STATUSES and message.finish_reason != "length":
        raise NotContinuable()
