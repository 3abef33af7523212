"""OpenAI chat-completion requests into Parley's ChatRequest, and Parley's stream events back into OpenAI chunks."""
import base64
import binascii
import json
import mimetypes
import re
import time
import uuid
from dataclasses import dataclass, field

from openai_api.errors import GatewayError
from openai_api.models import FUSION_MODEL
from providers.base import Attachment, ChatMessage, ChatRequest
from providers.events import EventKind, StreamEvent

# Fields about OpenAI's own account features; they mean nothing to another provider and are dropped.
IGNORED_FIELDS = frozenset({"user", "metadata", "store", "service_tier"})
KNOWN_FIELDS = frozenset({
    "model", "messages", "stream", "stream_options", "temperature", "top_p", "max_tokens", "max_completion_tokens",
    "stop", "tools", "tool_choice", "parallel_tool_calls", "response_format", "reasoning_effort", "seed",
    "presence_penalty", "frequency_penalty", "n", "parley",
}) | IGNORED_FIELDS
# Passed only to OpenAI-compatible servers and Gemini; Anthropic has no equivalent, so they are refused there.
NOT_FOR_ANTHROPIC = ("seed", "presence_penalty", "frequency_penalty")
RANGES = {"temperature": (0.0, 2.0), "top_p": (0.0, 1.0), "presence_penalty": (-2.0, 2.0),
          "frequency_penalty": (-2.0, 2.0)}
EFFORTS = ("minimal", "low", "medium", "high")
ROLES = ("system", "developer", "user", "assistant", "tool")
# Image types every protocol takes, told from the bytes (never from what the data URL claims).
IMAGE_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF87a", "image/gif"),
               (b"GIF89a", "image/gif"))
DATA_URL = re.compile(r"^data:[\w.+-]+/[\w.+-]+;base64,(?P<data>.*)$", re.S)


def invalid(message: str, param: str, code: str = "invalid_value") -> GatewayError:
    return GatewayError(message, status=400, code=code, param=param)


@dataclass(slots=True)
class CompletionRequest:
    """A validated /v1/chat/completions body."""

    model: str
    chat: ChatRequest
    stream: bool = False
    include_usage: bool = False
    fusion: dict | None = None  # {"models": [...], "judge": "..."} for parley/fusion
    question: str = ""           # the last user text (what a fusion judge is told the question was)


def parse_request(body: dict) -> CompletionRequest:
    unknown = sorted(set(body) - KNOWN_FIELDS)
    if unknown:
        raise invalid(f"Unsupported parameter: {unknown[0]!r}. See the README for what /v1 accepts.", unknown[0],
                      "unsupported_parameter")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise invalid("'model' is required: provider/model-id, e.g. openai/gpt-4o-mini.", "model", "missing_model")
    if body.get("n") not in (None, 1):
        raise invalid("Only n=1 is supported.", "n", "unsupported_parameter")
    stream = _bool(body, "stream")
    options = body.get("stream_options")
    if options is not None and (not isinstance(options, dict) or not stream):
        raise invalid("'stream_options' is an object, and only allowed with stream=true.", "stream_options")
    messages, system, question = parse_messages(body.get("messages"))
    params = parse_params(body)
    fusion = body.get("parley")
    if model.strip() == FUSION_MODEL:
        fusion = _fusion(fusion)
        if params.get("tools"):
            raise invalid("parley/fusion does not take tools.", "tools", "unsupported_parameter")
    elif fusion is not None:
        raise invalid("'parley' is only for the parley/fusion model.", "parley", "unsupported_parameter")
    return CompletionRequest(model=model.strip(), chat=ChatRequest(messages=messages, system=system, params=params),
                             stream=stream, include_usage=bool((options or {}).get("include_usage")), fusion=fusion,
                             question=question)


def _bool(body: dict, name: str) -> bool:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise invalid(f"'{name}' must be true or false.", name)
    return bool(value)


def _fusion(value) -> dict:
    if not isinstance(value, dict):
        raise invalid('parley/fusion needs "parley": {"models": [...], "judge": "provider/model-id"}.', "parley")
    models, judge = value.get("models"), value.get("judge")
    if set(value) - {"models", "judge"}:
        raise invalid("'parley' takes only 'models' and 'judge'.", "parley", "unsupported_parameter")
    if not isinstance(models, list) or not models or not all(isinstance(m, str) and m.strip() for m in models):
        raise invalid("'parley.models' must list one or more provider/model-id names.", "parley.models")
    if len(set(models)) != len(models):
        raise invalid("'parley.models' lists a model twice.", "parley.models", "duplicate_models")
    if FUSION_MODEL in models or judge == FUSION_MODEL:
        raise invalid("parley/fusion cannot fuse itself.", "parley.models")
    if not isinstance(judge, str) or not judge.strip():
        raise invalid("'parley.judge' must name the model that fuses the answers.", "parley.judge")
    return {"models": [m.strip() for m in models], "judge": judge.strip()}


# --- messages ----------------------------------------------------------------------------------------------------


def parse_messages(value) -> tuple[list[ChatMessage], str, str]:
    """(messages, system prompt, last user text) from OpenAI's message list."""
    if not isinstance(value, list) or not value:
        raise invalid("'messages' must be a non-empty list.", "messages")
    system, messages, question = [], [], ""
    tool_names: dict[str, str] = {}
    for index, raw in enumerate(value):
        param = f"messages[{index}]"
        if not isinstance(raw, dict) or raw.get("role") not in ROLES:
            raise invalid(f"{param} needs a role: one of {', '.join(ROLES)}.", f"{param}.role")
        role = raw["role"]
        if role in ("system", "developer"):
            system.append(_text(raw.get("content"), param))
        elif role == "user":
            text, images = _user_content(raw.get("content"), param)
            messages.append(ChatMessage(role="user", content=text, attachments=images))
            question = text
        elif role == "assistant":
            calls = _tool_calls(raw.get("tool_calls"), param)
            tool_names.update({call["id"]: call["name"] for call in calls})
            content = raw.get("content")
            messages.append(ChatMessage(role="assistant", content=_text(content, param) if content else "",
                                        metadata={"tool_calls": calls} if calls else {}))
        else:
            call_id = raw.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise invalid(f"{param}: a tool message needs its 'tool_call_id'.", f"{param}.tool_call_id")
            messages.append(ChatMessage(role="tool", content=_text(raw.get("content"), param),
                                        metadata={"tool_call_id": call_id, "tool_name": tool_names.get(call_id, "")}))
    if not any(message.role == "user" for message in messages):
        raise invalid("'messages' needs at least one user message.", "messages")
    return messages, "\n\n".join(part for part in system if part), question


def _text(content, param: str) -> str:
    """A message's text: a string, or a list of text parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise invalid(f"{param}.content must be a string or a list of content parts.", f"{param}.content")
    texts = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        else:
            raise invalid(f"{param}: unsupported content part {kind!r}.", f"{param}.content", "unsupported_content")
    return "\n".join(texts)


def _user_content(content, param: str) -> tuple[str, list[Attachment]]:
    """A user message's text and its image parts as Attachments (data URLs decoded, http(s) URLs kept)."""
    if not isinstance(content, list):
        return _text(content, param), []
    images = [_image(part, f"{param}.content") for part in content
              if isinstance(part, dict) and part.get("type") == "image_url"]
    text = _text([part for part in content if not (isinstance(part, dict) and part.get("type") == "image_url")],
                 param)
    return text, images


def _image(part: dict, param: str) -> Attachment:
    url = (part.get("image_url") or {}).get("url") if isinstance(part.get("image_url"), dict) else None
    if not isinstance(url, str) or not url:
        raise invalid(f"{param}: an image_url part needs image_url.url.", param)
    if url.startswith(("http://", "https://")):
        guessed = mimetypes.guess_type(url.split("?", 1)[0])[0] or ""
        return Attachment(kind="image", media_type=guessed if guessed.startswith("image/") else "", url=url)
    match = DATA_URL.match(url)
    if match is None:
        raise invalid(f"{param}: image_url.url must be an http(s) URL or a base64 data URL.", param, "invalid_image")
    try:
        data = base64.b64decode(match["data"], validate=True)
    except (binascii.Error, ValueError):
        raise invalid(f"{param}: the image's base64 data is not valid.", param, "invalid_image")
    media_type = next((kind for magic, kind in IMAGE_MAGIC if data.startswith(magic)), "")
    if not media_type and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        media_type = "image/webp"
    if not media_type:
        raise invalid(f"{param}: the image is not a PNG, JPEG, GIF or WebP.", param, "invalid_image")
    return Attachment(kind="image", media_type=media_type, data=data)


def _tool_calls(value, param: str) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(f"{param}.tool_calls must be a list.", f"{param}.tool_calls")
    calls = []
    for call in value:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not call.get("id") or not isinstance(function.get("name"), str):
            raise invalid(f"{param}.tool_calls: each needs an id and a function name.", f"{param}.tool_calls")
        calls.append({"id": str(call["id"]), "name": function["name"],
                      "arguments": function.get("arguments") or "{}"})
    return calls


# --- params ------------------------------------------------------------------------------------------------------


def parse_params(body: dict) -> dict:
    params: dict = {}
    for name, (low, high) in RANGES.items():
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise invalid(f"'{name}' must be a number from {low:g} to {high:g}.", name)
        params[name] = value
    for name in ("max_completion_tokens", "max_tokens", "seed"):
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or (value < 1 and name != "seed"):
            raise invalid(f"'{name}' must be a positive whole number.", name)
        if name == "seed":
            params["seed"] = value
        else:
            params.setdefault("max_tokens", value)  # max_completion_tokens wins: it comes first
    stop = body.get("stop")
    if stop is not None:
        stop = [stop] if isinstance(stop, str) else stop
        if not isinstance(stop, list) or not 1 <= len(stop) <= 4 or not all(isinstance(s, str) and s for s in stop):
            raise invalid("'stop' must be a string or a list of up to 4 strings.", "stop")
        params["stop"] = stop
    effort = body.get("reasoning_effort")
    if effort is not None:
        if effort not in EFFORTS:
            raise invalid(f"'reasoning_effort' must be one of {', '.join(EFFORTS)}.", "reasoning_effort")
        params["reasoning_effort"] = effort
    if body.get("parallel_tool_calls") is not None:
        params["parallel_tool_calls"] = _bool(body, "parallel_tool_calls")
    response_format = body.get("response_format")
    if response_format is not None:
        params["response_format"] = _response_format(response_format)
    tools = _tools(body.get("tools"))
    if tools:
        params["tools"] = tools
    choice = body.get("tool_choice")
    if choice is not None:
        params["tool_choice"] = _tool_choice(choice, tools)
    return params


def _response_format(value) -> dict:
    kind = value.get("type") if isinstance(value, dict) else None
    if kind not in ("text", "json_object", "json_schema"):
        raise invalid("'response_format.type' must be text, json_object or json_schema.", "response_format")
    if kind == "json_schema" and not isinstance((value.get("json_schema") or {}).get("schema"), dict):
        raise invalid("'response_format.json_schema.schema' must be a JSON Schema object.", "response_format")
    return value


def _tools(value) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid("'tools' must be a list.", "tools")
    for tool in value:
        function = tool.get("function") if isinstance(tool, dict) else None
        if tool.get("type") != "function" or not isinstance(function, dict) or not function.get("name"):
            raise invalid("Each tool must be {\"type\": \"function\", \"function\": {\"name\", ...}}.", "tools")
    return value


def _tool_choice(choice, tools: list[dict]):
    names = {tool["function"]["name"] for tool in tools}
    if choice in ("auto", "none", "required"):
        return choice
    name = ((choice.get("function") or {}).get("name") if isinstance(choice, dict) else None)
    if not isinstance(choice, dict) or choice.get("type") != "function" or not name:
        raise invalid("'tool_choice' must be auto, none, required or {\"type\": \"function\", ...}.", "tool_choice")
    if name not in names:
        raise invalid(f"'tool_choice' names {name!r}, which is not in 'tools'.", "tool_choice")
    return choice


def has_images(request: CompletionRequest) -> bool:
    return any(message.attachments for message in request.chat.messages)


def check_for_protocol(request: CompletionRequest, protocol: str, model: str) -> None:
    """Refuse what this model's wire protocol cannot carry (rather than send it wrong or drop it unsaid)."""
    if protocol == "anthropic_messages":
        for name in NOT_FOR_ANTHROPIC:
            if name in request.chat.params:
                raise invalid(f"'{name}' is not supported by {model} (Anthropic).", name, "unsupported_parameter")


# --- responses ---------------------------------------------------------------------------------------------------


def completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex


def openai_usage(usage: dict | None) -> dict:
    usage = usage or {}
    prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": int(usage.get("cached_tokens") or 0)},
            "completion_tokens_details": {"reasoning_tokens": int(usage.get("reasoning_tokens") or 0)}}


def tool_call_entry(index: int, call: dict) -> dict:
    return {"index": index, "id": call.get("id", ""), "type": "function",
            "function": {"name": call.get("name", ""), "arguments": call.get("arguments") or "{}"}}


def completion_body(*, model: str, text: str, reasoning: str, tool_calls: list[dict], finish_reason: str,
                    usage: dict | None) -> dict:
    message: dict = {"role": "assistant", "content": text if text or not tool_calls else None}
    if reasoning:
        message["reasoning_content"] = reasoning
    if tool_calls:
        message["tool_calls"] = [
            {k: v for k, v in tool_call_entry(i, call).items() if k != "index"} for i, call in enumerate(tool_calls)]
    return {"id": completion_id(), "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason or "stop", "logprobs": None}],
            "usage": openai_usage(usage)}


@dataclass(slots=True)
class ChunkWriter:
    """Frames stream events as `data: <chat.completion.chunk>` lines: the envelope is encoded once per stream and
    each event costs one json.dumps of its delta."""

    model: str
    include_usage: bool = False
    usage: dict | None = None
    finish_reason: str = ""
    tool_calls: int = 0
    # What a call that ends before the provider's usage is priced from (usage.services.call_usage_record): the
    # prompt's count when the provider told it as the stream began, and the text sent (one append per chunk).
    prompt_usage: dict | None = None
    text: list[str] = field(default_factory=list)
    _open: bytes = b""
    _envelope: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._envelope = {"id": completion_id(), "object": "chat.completion.chunk", "created": int(time.time()),
                          "model": self.model}
        head = json.dumps(self._envelope, separators=(",", ":"))[:-1]
        self._open = f'data: {head},"choices":[{{"index":0,"delta":'.encode()

    def _chunk(self, delta: dict, finish_reason: str | None = None) -> bytes:
        tail = f',"finish_reason":{json.dumps(finish_reason)}}}]}}\n\n'
        return self._open + json.dumps(delta, separators=(",", ":"), ensure_ascii=False).encode() + tail.encode()

    def start(self) -> bytes:
        return self._chunk({"role": "assistant", "content": ""})

    def frame(self, event: StreamEvent) -> bytes:
        """The bytes for one event (b"" for those OpenAI's format has no place for, and for usage until the end)."""
        kind = event.kind
        if kind is EventKind.TEXT:
            self.text.append(event.text)
            return self._chunk({"content": event.text})
        if kind is EventKind.REASONING:
            self.text.append(event.text)
            return self._chunk({"reasoning_content": event.text})
        if kind is EventKind.TOOL_CALL:
            self.tool_calls += 1
            return self._chunk({"tool_calls": [tool_call_entry(self.tool_calls - 1, event.data)]})
        if kind is EventKind.USAGE:
            self.usage = event.data
            return b""
        if kind is EventKind.PROMPT_USAGE:
            self.prompt_usage = event.data
            return b""
        if kind is EventKind.FINISH:
            self.finish_reason = event.data.get("finish_reason") or "stop"
            return self._chunk({}, self.finish_reason) + self.end()
        return b""  # citations: OpenAI's chunk has no field for them

    def end(self) -> bytes:
        tail = b""
        if self.include_usage:
            usage_chunk = dict(self._envelope, choices=[], usage=openai_usage(self.usage))
            tail = b"data: " + json.dumps(usage_chunk, separators=(",", ":")).encode() + b"\n\n"
        return tail + b"data: [DONE]\n\n"

    @staticmethod
    def error(error: GatewayError) -> bytes:
        # No `event:` line: openai-python raises APIError for a data-only chunk with an "error" key.
        return b"data: " + json.dumps(error.body(), separators=(",", ":")).encode() + b"\n\n"
