"""Fake merge models: answers built from Parley's merge, condense and fuse prompts (tagged, JSON or garbage).

Model ids: `merge-tagged`, `merge-json`, `merge-garbage`, `merge-garbage-once` (valid once the prompt says the
previous answer could not be parsed); a `-D` suffix paces the answer one word every D ms (`merge-tagged-100`).
"""
import json
import re

from providers.fake.scripts import Plan

TAG = re.compile(r"^\[(USER|ASSISTANT|REASONING)\]:[ \t]?", re.MULTILINE)
HEADING = re.compile(r"^=== Conversation (\w+)", re.MULTILINE)
ANSWER = re.compile(r"^=== Answer \d+ \([^)]*\) ===\n(.*?)(?=^=== Answer |\Z|^Write the fused answer)",
                    re.MULTILINE | re.DOTALL)
GARBAGE = "I am sorry, but I would rather talk about the weather today."
CONDENSED_WORDS = 12


def _tagged_messages(prompt: str) -> list[tuple[str, str, str]]:
    """(role, text, conversation label) of each tagged message in the prompt, repeats dropped."""
    headings = [(m.start(), m.group(1)) for m in HEADING.finditer(prompt)]
    matches = list(TAG.finditer(prompt))
    seen, messages = set(), []
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(prompt)
        body = prompt[match.end():end]
        # The prompt's own sections (a heading, the format instructions) end a message.
        body = re.split(r"\n=== |\nAdditional instructions", body)[0].strip()
        label = next((name for start, name in reversed(headings) if start < match.start()), "")
        role = match.group(1).lower()
        if role == "reasoning" or not body or (role, body) in seen:
            continue
        seen.add((role, body))
        messages.append((role, body, label))
    return messages


def _answer(style: str, prompt: str) -> str:
    if prompt.startswith("The question:"):
        answers = [a.strip() for a in ANSWER.findall(prompt)]
        return "Fused answer: " + " ".join(dict.fromkeys(answers))
    # Only the sources: the format instructions after them show the tags too.
    messages = _tagged_messages(prompt.split("\nAnswer with ", 1)[0])
    if prompt.startswith("Part "):  # a condense request: keep the first words of each message
        messages = [(role, " ".join(text.split()[:CONDENSED_WORDS]), label) for role, text, label in messages]
    if style == "json":
        return json.dumps({"messages": [
            {"role": role, "content": text, "sources": [label] if label else []} for role, text, label in messages]})
    return "\n\n".join(f"[{role.upper()}]: {text}" for role, text, _ in messages)


def merge_plan(name: str, last_user_text: str) -> Plan:
    match = re.fullmatch(r"merge-(tagged|json|garbage|garbage-once)(?:-(\d+))?", name)
    if match is None:
        return Plan(text=[GARBAGE])
    style, delay = match[1], int(match[2] or 0) / 1000
    retried = "could not be parsed" in last_user_text
    if style == "garbage" or (style == "garbage-once" and not retried):
        text = GARBAGE
    else:
        text = _answer("json" if style == "json" else "tagged", last_user_text)
    words = re.findall(r"\S+\s*", text) if delay else [text]
    return Plan(text=words or [""], delay=delay)
