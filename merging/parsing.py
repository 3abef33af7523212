"""Turns a merge model's answer into messages: the JSON form, else the tagged `[USER]:` transcript."""
import json
import re
from dataclasses import dataclass, field


class MergeParseError(ValueError):
    """The answer holds neither a JSON message list nor a tagged transcript."""


@dataclass(slots=True)
class ParsedMessage:
    role: str  # "user" | "assistant"
    content: str
    reasoning: str = ""
    # Labels of the source conversations ("A", "B"...) the model says this message came from.
    sources: list[str] = field(default_factory=list)


TAG = re.compile(r"^[ \t]*(?:\*\*)?\[(USER|ASSISTANT|REASONING)\](?:\*\*)?[ \t]*:[ \t]?", re.IGNORECASE | re.MULTILINE)
FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


def parse_merge_output(text: str) -> list[ParsedMessage]:
    """Messages out of `text`, JSON first, then tags; raises MergeParseError when neither yields a dialogue."""
    messages = _parse_json(text)
    if messages is None:
        messages = _parse_tagged(text)
    if not messages or not any(m.role == "assistant" for m in messages):
        raise MergeParseError("The merge model's answer holds no [USER]/[ASSISTANT] messages.")
    return messages


def _json_candidates(text: str) -> list[str]:
    stripped = text.strip()
    candidates = [stripped]
    candidates += [m.group(1).strip() for m in FENCE.finditer(text)]
    # A JSON value wrapped in prose: from the first opening bracket to the last closing one.
    for opening, closing in (("{", "}"), ("[", "]")):
        start, end = stripped.find(opening), stripped.rfind(closing)
        if 0 <= start < end:
            candidates.append(stripped[start:end + 1])
    return candidates


def _parse_json(text: str) -> list[ParsedMessage] | None:
    for candidate in _json_candidates(text):
        try:
            data = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(data, dict):
            data = data.get("messages")
        if not isinstance(data, list):
            continue
        messages = []
        for item in data:
            if not isinstance(item, dict):
                continue
            role = str(item.get("role", "")).lower()
            content = item.get("content")
            if role not in ("user", "assistant") or not isinstance(content, str) or not content.strip():
                continue
            reasoning = item.get("reasoning") if isinstance(item.get("reasoning"), str) else ""
            sources = [str(s) for s in item.get("sources", []) if isinstance(s, str | int)] \
                if isinstance(item.get("sources"), list) else []
            messages.append(ParsedMessage(role, content.strip(), reasoning.strip(), sources))
        if messages:
            return messages
    return None


def _parse_tagged(text: str) -> list[ParsedMessage]:
    matches = list(TAG.finditer(text))
    messages: list[ParsedMessage] = []
    pending_reasoning = ""
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        body = text[match.end():end].strip()
        tag = match.group(1).upper()
        if tag == "REASONING":
            # Reasoning belongs to the assistant message it follows; before one, to the next one.
            if messages and messages[-1].role == "assistant" and not messages[-1].reasoning:
                messages[-1].reasoning = body
            else:
                pending_reasoning = body
            continue
        if not body:
            continue
        role = tag.lower()
        message = ParsedMessage(role, body)
        if role == "assistant" and pending_reasoning:
            message.reasoning, pending_reasoning = pending_reasoning, ""
        messages.append(message)
    return messages


def render_tagged(messages) -> str:
    """The tagged transcript of `messages` (objects with role, content and optional reasoning)."""
    lines = []
    for message in messages:
        lines.append(f"[{message.role.upper()}]: {message.content.strip()}")
        reasoning = getattr(message, "reasoning", "")
        if reasoning:
            lines.append(f"[REASONING]: {reasoning.strip()}")
    return "\n\n".join(lines)
