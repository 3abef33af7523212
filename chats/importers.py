"""Imports (SPEC §8): Parley's JSON export, or ChatGPT's `conversations.json`, whose `mapping` is itself a tree.

Both become `ImportedTree`s first (checked whole), then are stored in one transaction: a malformed file is 400
`invalid_import` and imports nothing. Messages are stored parents first, so creation order follows the tree.
"""
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from rest_framework.exceptions import ValidationError

from chats.models import Conversation, Message, MessageRole, MessageStatus
from chats.validation import validate_system_prompt, validate_title

ROLES = {MessageRole.USER, MessageRole.ASSISTANT}
MAX_IMPORT_CONVERSATIONS = 1000


class InvalidImport(ValidationError):
    default_code = "invalid_import"

    def __init__(self, detail: str):
        super().__init__(detail, code="invalid_import")


@dataclass
class ImportedMessage:
    key: str
    parent: str | None
    role: str
    content: str
    model: str = ""
    selected: bool = False
    reasoning: str = ""


@dataclass
class ImportedTree:
    title: str
    system_prompt: str = ""
    default_model: str = ""
    messages: list[ImportedMessage] = field(default_factory=list)


def _text(value, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidImport(f"{what} must be text.")
    if len(value) > settings.PARLEY_MAX_MESSAGE_CHARS * 10:
        raise InvalidImport(f"{what} is too long.")
    return value


# --- Parley JSON -------------------------------------------------------------------------------------------------


def _from_parley(data: dict) -> ImportedTree:
    conversation = data.get("conversation")
    messages = data.get("messages")
    if not isinstance(conversation, dict) or not isinstance(messages, list):
        raise InvalidImport("A Parley export has a `conversation` object and a `messages` list.")
    tree = ImportedTree(title=_text(conversation.get("title") or "", "The title"),
                        system_prompt=_text(conversation.get("system_prompt") or "", "The system prompt"),
                        default_model=_text(conversation.get("default_model") or "", "The default model"))
    for index, row in enumerate(messages):
        if not isinstance(row, dict):
            raise InvalidImport(f"Message {index + 1} is not an object.")
        role = row.get("role")
        if role not in ROLES:
            raise InvalidImport(f"Message {index + 1} has an unknown role.")
        key, parent = row.get("id"), row.get("parent_id")
        if not isinstance(key, str) or (parent is not None and not isinstance(parent, str)):
            raise InvalidImport(f"Message {index + 1} needs a text `id` and `parent_id` (or null).")
        tree.messages.append(ImportedMessage(
            key=key, parent=parent, role=role, content=_text(row.get("content") or "", "A message"),
            reasoning=_text(row.get("reasoning") or "", "A message's reasoning"),
            model=_text(row.get("model") or "", "A model name")[:200], selected=bool(row.get("selected", True))))
    return tree


# --- ChatGPT conversations.json ----------------------------------------------------------------------------------


def _chatgpt_text(message: dict) -> str:
    content = message.get("content") or {}
    if not isinstance(content, dict):
        raise InvalidImport("A ChatGPT message's `content` must be an object.")
    parts = content.get("parts")
    if parts is None:
        return _text(content.get("text") or "", "A message")
    if not isinstance(parts, list):
        raise InvalidImport("A ChatGPT message's `content.parts` must be a list.")
    return "\n".join(part for part in parts if isinstance(part, str))


def _from_chatgpt(data: dict) -> ImportedTree:
    mapping = data.get("mapping")
    if not isinstance(mapping, dict) or not mapping:
        raise InvalidImport("A ChatGPT conversation has a `mapping` of nodes.")
    nodes = {}
    for key, node in mapping.items():
        if not isinstance(node, dict):
            raise InvalidImport("Every node of a ChatGPT `mapping` is an object.")
        parent, message = node.get("parent"), node.get("message")
        if parent is not None and parent not in mapping:
            raise InvalidImport("A ChatGPT node names a parent that is not in the `mapping`.")
        if message is not None and not isinstance(message, dict):
            raise InvalidImport("A ChatGPT node's `message` must be an object or null.")
        nodes[key] = (parent, message)
    # The selected path: from `current_node` up to the root.
    selected, current = set(), data.get("current_node")
    while current in nodes and current not in selected:
        selected.add(current)
        current = nodes[current][0]

    def kept_ancestor(key):
        seen = set()
        parent = nodes[key][0]
        while parent is not None:
            if parent in seen:
                raise InvalidImport("A ChatGPT `mapping` has a cycle.")
            seen.add(parent)
            if parent in kept:
                return parent
            parent = nodes[parent][0]
        return None

    kept = {}
    for key, (_parent, message) in nodes.items():
        if message is None:
            continue
        role = (message.get("author") or {}).get("role") if isinstance(message.get("author"), dict) else None
        text = _chatgpt_text(message)
        if role in ROLES and text.strip():
            metadata = message.get("metadata") if isinstance(message.get("metadata"), dict) else {}
            model = metadata.get("model_slug") if isinstance(metadata.get("model_slug"), str) else ""
            kept[key] = (role, text, message.get("create_time") or 0, model or "")
    # Parents first: order by depth, then by time.
    depth = {}

    def depth_of(key):
        if key not in depth:
            parent = kept_ancestor(key)
            depth[key] = 0 if parent is None else depth_of(parent) + 1
        return depth[key]

    order = sorted(kept, key=lambda key: (depth_of(key), _number(kept[key][2])))
    tree = ImportedTree(title=_text(data.get("title") or "", "The title"))
    for key in order:
        role, text, _time, model = kept[key]
        tree.messages.append(ImportedMessage(key=key, parent=kept_ancestor(key), role=role, content=text,
                                             model=f"openai/{model}" if model else "",
                                             selected=key in selected or not selected))
    return tree


def _number(value) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


# --- reading and storing -----------------------------------------------------------------------------------------


def parse_import(data) -> list[ImportedTree]:
    """Every conversation in `data` (a Parley export, a list of them, or ChatGPT's list), checked whole."""
    items = data if isinstance(data, list) else [data]
    if not items or len(items) > MAX_IMPORT_CONVERSATIONS:
        raise InvalidImport(f"An import holds 1 to {MAX_IMPORT_CONVERSATIONS} conversations.")
    trees = []
    for item in items:
        if not isinstance(item, dict):
            raise InvalidImport("Every conversation of an import is an object.")
        if "mapping" in item:
            tree = _from_chatgpt(item)
        elif item.get("format") == "parley.conversation":
            tree = _from_parley(item)
        else:
            raise InvalidImport("This is neither a Parley export nor a ChatGPT conversations.json.")
        _check_tree(tree)
        trees.append(tree)
    return trees


def _check_tree(tree: ImportedTree) -> None:
    keys = {message.key for message in tree.messages}
    if len(keys) != len(tree.messages):
        raise InvalidImport("Two messages share an id.")
    if any(message.parent is not None and message.parent not in keys for message in tree.messages):
        raise InvalidImport("A message names a parent that is not in the file.")
    try:
        tree.title = validate_title(tree.title)
        tree.system_prompt = validate_system_prompt(tree.system_prompt)
    except ValidationError as exc:
        raise InvalidImport(f"The conversation's title or system prompt is too long. {exc.detail}")


def _parents_first(tree: ImportedTree) -> list[ImportedMessage]:
    by_parent: dict = {}
    for message in tree.messages:
        by_parent.setdefault(message.parent, []).append(message)
    ordered, stack, seen = [], list(reversed(by_parent.get(None, []))), set()
    while stack:
        message = stack.pop()
        if message.key in seen:
            continue
        seen.add(message.key)
        ordered.append(message)
        stack.extend(reversed(by_parent.get(message.key, [])))
    if len(ordered) != len(tree.messages):
        raise InvalidImport("The messages do not form a tree (a cycle or a lost branch).")
    return ordered


@transaction.atomic
def conversations_import(*, owner, data) -> list[Conversation]:
    trees = parse_import(data)
    ordered = [_parents_first(tree) for tree in trees]
    conversations = []
    for tree, messages in zip(trees, ordered, strict=True):
        conversation = Conversation.objects.create(owner=owner, title=tree.title or "Imported conversation",
                                                   system_prompt=tree.system_prompt,
                                                   default_model=tree.default_model[:200])
        stored: dict = {}
        chosen: set = set()
        for message in messages:
            parent = stored.get(message.parent)
            # One selected sibling per parent: the first marked one, else the newest (chats.tree reads it so).
            selected = message.selected and (message.parent, "chosen") not in chosen
            if selected:
                chosen.add((message.parent, "chosen"))
            row = Message(
                conversation=conversation, role=message.role, content=message.content,
                reasoning=message.reasoning, model=message.model, status=MessageStatus.COMPLETE, parent=parent,
                reply_to=parent if message.role == MessageRole.ASSISTANT else None, selected=selected,
            )
            row.is_root = parent is None
            row.save(force_insert=True)
            stored[message.key] = row
        conversations.append(conversation)
    return conversations


def import_upload(*, owner, upload) -> list[Conversation]:
    """An uploaded export file (the API's multipart `file`, the settings page): read within
    PARLEY_MAX_JSON_BYTES (413 `too_large`), then imported whole or not at all."""
    from rest_framework.exceptions import ParseError

    from core.json_limits import loads_limited, max_json_bytes, too_large

    if upload.size > max_json_bytes():
        raise too_large()
    try:
        data = loads_limited(upload.read())
    except ParseError:
        raise InvalidImport("The file is not JSON.")
    return conversations_import(owner=owner, data=data)
