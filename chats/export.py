"""Exports (SPEC §8): the whole tree as Parley JSON, the current branch as Markdown."""
from chats.models import Conversation
from chats.tree import branch_messages, tree_messages

EXPORT_FORMAT = "parley.conversation"
EXPORT_VERSION = 1
_MESSAGE_FIELDS = ("role", "content", "reasoning", "model", "status", "finish_reason", "selected", "metadata")


def conversation_export_json(*, conversation: Conversation) -> dict:
    """Every message of the tree with its `parent_id`; what `chats.importers` reads back."""
    messages = [
        {"id": str(message.pk), "parent_id": str(message.parent_id) if message.parent_id else None,
         **{field: getattr(message, field) for field in _MESSAGE_FIELDS},
         "created_at": message.created_at.isoformat()}
        for message in tree_messages(conversation=conversation)
    ]
    return {
        "format": EXPORT_FORMAT, "version": EXPORT_VERSION,
        "conversation": {"id": str(conversation.pk), "title": conversation.title,
                         "system_prompt": conversation.system_prompt, "default_model": conversation.default_model,
                         "params": conversation.params, "created_at": conversation.created_at.isoformat()},
        "messages": messages,
    }


def conversation_export_markdown(*, conversation: Conversation) -> str:
    """The current branch, one heading per turn."""
    lines = [f"# {conversation.title or 'Conversation'}", ""]
    if conversation.system_prompt:
        lines += ["> System: " + conversation.system_prompt.replace("\n", "\n> "), ""]
    for message in branch_messages(conversation=conversation):
        who = "You" if message.role == "user" else message.role.capitalize()
        if message.role == "assistant" and message.model:
            who += f" ({message.model})"
        lines += [f"## {who}", "", message.content, ""]
    return "\n".join(lines).rstrip() + "\n"


def export_filename(conversation: Conversation, extension: str) -> str:
    stem = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in (conversation.title or "conversation"))
    return f"{stem.strip('-')[:60] or 'conversation'}.{extension}"
