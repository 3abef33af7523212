"""The instructions Parley gives a merge model: merge conversations, condense long ones, fuse answers."""
from dataclasses import dataclass, field

from merging.parsing import render_tagged

MERGE_SYSTEM = """You merge several conversations between a user and AI assistants into ONE coherent conversation.

Rules:
- Preserve every insight, fact, code sample, caveat and conclusion from every source conversation.
- Remove repetition: when sources say the same thing, say it once, in its clearest and most complete form.
- Surface contradictions: when sources disagree, keep both positions side by side and say that they differ
  (for example "Source A recommends X, while source B recommends Y because ...") instead of silently picking one.
- Keep the order a reader would follow: questions before their answers, foundations before details.
- Keep useful reasoning traces as [REASONING] after the assistant message they belong to.
- Do not add new facts, greetings or commentary about the merge itself.
"""

TAGGED_FORMAT = """Answer with the merged conversation only, in exactly this format, one block per message:

[USER]: the user's message
[ASSISTANT]: the assistant's reply
[REASONING]: optional reasoning behind the reply above
"""

JSON_FORMAT = """Answer with a JSON object only:
{"messages": [{"role": "user" | "assistant", "content": "...", "reasoning": "optional", "sources": ["A", "B"]}]}
where "sources" lists the labels of the conversations each message draws on.
If you cannot produce JSON, use this format instead:

[USER]: the user's message
[ASSISTANT]: the assistant's reply
[REASONING]: optional reasoning behind the reply above
"""

CONDENSE_SYSTEM = """Condense one part of a conversation so that it takes far less space.
Keep every distinct insight, fact, number, code sample, decision and disagreement; drop repetition,
pleasantries and filler. Keep who said what.

""" + TAGGED_FORMAT

FUSE_SYSTEM = """Several AI models answered the same question. Fuse their answers into ONE answer.

Rules:
- Preserve every insight, fact, code sample and caveat that any answer contains.
- Remove repetition.
- Surface contradictions: where answers disagree, present each position and say they differ.
- Answer the user directly, as a single assistant would; do not mention the models or the fusion.
"""

RETRY_NOTE = (
    "Your previous answer could not be parsed. Reply again with the merged conversation only, "
    "every message starting on its own line with [USER]: or [ASSISTANT]: (and optionally [REASONING]:)."
)
FUSE_RETRY_NOTE = "Your previous answer was empty. Write the fused answer now."


@dataclass(slots=True)
class SourceMessage:
    role: str
    content: str
    reasoning: str = ""
    message_id: str = ""  # the stored message it came from; empty once condensed


@dataclass(slots=True)
class SourceConversation:
    label: str  # "A", "B", ...
    conversation_id: str
    title: str
    messages: list[SourceMessage] = field(default_factory=list)

    def render(self) -> str:
        heading = f"=== Conversation {self.label}: {self.title or 'untitled'} ==="
        return f"{heading}\n\n{render_tagged(self.messages)}"


def merge_user_prompt(sources: list[SourceConversation], *, instructions: str, structured: bool) -> str:
    parts = [f"Merge these {len(sources)} conversations.", ""]
    parts += [source.render() + "\n" for source in sources]
    if instructions:
        parts += ["Additional instructions from the user:", instructions.strip(), ""]
    parts.append(JSON_FORMAT if structured else TAGGED_FORMAT)
    return "\n".join(parts)


def condense_user_prompt(source: SourceConversation, messages: list[SourceMessage], *, part: int, parts: int) -> str:
    return (
        f"Part {part} of {parts} of conversation {source.label} ({source.title or 'untitled'}):\n\n"
        f"{render_tagged(messages)}"
    )


def fuse_user_prompt(question: str, answers: list[tuple[str, str]], *, instructions: str = "") -> str:
    parts = ["The question:", question.strip(), ""]
    for index, (model, content) in enumerate(answers, start=1):
        parts += [f"=== Answer {index} ({model}) ===", content.strip(), ""]
    if instructions:
        parts += ["Additional instructions from the user:", instructions.strip(), ""]
    parts.append("Write the fused answer now.")
    return "\n".join(parts)
