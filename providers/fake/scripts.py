"""What the fake provider does for a model id: a Plan of reasoning, text, tool calls, pacing and how it ends."""
import json
import re
from dataclasses import dataclass, field

UTF8_PIECES = ("héllo ", "wörld ", "— ", "日本語 ", "🎉 ", "ok")
TOOL_ARGUMENT_PIECES = ('{"city":', ' "Par', 'is", "unit": ', '"celsius"}')
CITATIONS = (
    {"url": "https://example.com/one", "title": "Source one"},
    {"url": "https://example.org/two", "title": "Source two"},
)

# Errors before the stream: behaviour name → kind understood by providers.fake.wire.
PRE_STREAM_ERRORS = {"ratelimit": "ratelimit", "overloaded": "overloaded", "badkey": "badkey",
                     "nocredit": "nocredit", "notjson": "notjson"}


@dataclass
class Plan:
    error: str = ""                 # a PRE_STREAM_ERRORS kind: answer that instead of a stream
    first_delay: float = 0.0        # seconds before the first byte
    delay: float = 0.0              # seconds between chunks
    reasoning: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    tool: bool = False
    citations: bool = False
    split_utf8: bool = False        # write each chunk in two halves, cut inside a multi-byte character
    end: str = "finish"             # "finish" | "error" (in-stream error) | "truncate" (close without end marker)
    cached: int = 0                 # prompt tokens reported as read from the provider's cache
    calls: list[tuple[str, str]] = field(default_factory=list)  # tool calls to make: (name, arguments JSON text)


def story(n: int) -> list[str]:
    return [f"w{i} " for i in range(1, n + 1)]


def behaviour_name(provider: str, model_id: str) -> str:
    """The part of the native model id that picks a behaviour: its last segment, since OpenRouter (and
    vLLM-style custom endpoints) carry a vendor prefix, as in `openrouter/fake/echo`."""
    return model_id.rsplit("/", 1)[-1]


def _arguments(text: str, default: str = "{}") -> str:
    """The user's text when it is JSON (the arguments a test asks the model to send), else `default`."""
    try:
        json.loads(text)
    except ValueError:
        return default
    return text.strip()


def tool_plan(name: str, *, last_user_text: str, offered: list[str], results: list[str]) -> Plan:
    """Models that use the tools offered to them, in whichever protocol they are asked in (SPEC §7):

    - `tool-call`: says "Checking. ", then calls the first offered tool with the user's text as its arguments
      (when it is JSON, else `{}`); once results came back, quotes them.
    - `tool-parallel`: the user's text is a JSON list; one call to the first tool per item, all in one round.
    - `tool-loop`: calls the first tool again every round, whatever it is told (the round cap must stop it).
    - `tool-bad`: calls the first tool with arguments that are not JSON and a tool nobody offered, together.
    """
    if not offered:
        return Plan(text=["No tools were offered."])
    if results and name != "tool-loop":
        return Plan(text=["Tool results: ", " | ".join(results)])
    first = offered[0]
    if name == "tool-parallel":
        try:
            items = json.loads(last_user_text)
        except ValueError:
            items = [{}, {}]
        items = items if isinstance(items, list) else [items]
        return Plan(calls=[(first, json.dumps(item)) for item in items])
    if name == "tool-bad":
        return Plan(calls=[(first, '{"a": 1,'), ("no_such_tool", "{}")])
    if name == "tool-loop":
        return Plan(calls=[(first, _arguments(last_user_text))])
    return Plan(text=["Checking. "], calls=[(first, _arguments(last_user_text))])


TOOL_MODELS = ("tool-call", "tool-parallel", "tool-loop", "tool-bad")


def plan_for(name: str, *, last_user_text: str = "", seen_before: bool = False,
             attachments: list[dict] | None = None, tool_result: str | None = None) -> Plan:
    if name.startswith("merge-"):  # Parley's merge prompts answered in kind: providers/fake/merge.py
        from providers.fake.merge import merge_plan

        return merge_plan(name, last_user_text)
    if name == "echo":
        reply = f"You said: {last_user_text}"
        size = max(1, -(-len(reply) // 4))
        return Plan(text=[reply[i:i + size] for i in range(0, len(reply), size)])
    if name == "describe":  # what arrived as attachments: kind, media type, size and sha256 of the bytes
        from providers.fake.parts import describe

        return Plan(text=describe(attachments or []))
    if match := re.fullmatch(r"story-(\d+)-(\d+)", name):
        return Plan(text=story(int(match[1])), delay=int(match[2]) / 1000)
    if match := re.fullmatch(r"think-(\d+)-(\d+)", name):
        count = int(match[1])
        return Plan(reasoning=[f"t{i} " for i in range(1, max(1, count // 2) + 1)], text=story(count),
                    delay=int(match[2]) / 1000)
    if match := re.fullmatch(r"fail-after-(\d+)", name):
        return Plan(text=story(int(match[1])), end="error")
    if match := re.fullmatch(r"truncate-after-(\d+)", name):
        return Plan(text=story(int(match[1])), end="truncate")
    if match := re.fullmatch(r"slow-first-(\d+)", name):
        return Plan(text=story(5), first_delay=int(match[1]) / 1000)
    if match := re.fullmatch(r"cached-(\d+)", name):  # usage with this many cached prompt tokens
        return Plan(text=story(5), cached=int(match[1]))
    if name == "ratelimit-once":
        return Plan(error="" if seen_before else "ratelimit-once", text=story(5))
    if name in PRE_STREAM_ERRORS:
        return Plan(error=PRE_STREAM_ERRORS[name])
    if name == "tools":
        return Plan(text=["Let me check. "], tool=True)
    if name == "weather":  # a tool round trip: call the tool, then answer from the result sent back
        if tool_result is None:
            return Plan(tool=True)
        return Plan(text=["The tool said: ", tool_result])
    if name == "cite":
        return Plan(text=["According to sources ", "[1][2], ", "yes."], citations=True)
    if name == "utf8":
        return Plan(text=list(UTF8_PIECES), split_utf8=True)
    return Plan(text=story(5))
