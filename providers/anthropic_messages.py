"""Anthropic Messages over SSE: thinking blocks with signatures, text, tool use, citations, usage, error events."""
import json

from providers import errors
from providers.base import (
    Attachment,
    ChatRequest,
    HttpAdapter,
    Route,
    StreamTranslator,
    attachment_text,
    base64_of,
    replay_metadata,
)
from providers.events import EventKind, StreamEvent
from providers.transport import HttpCall, send

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 8192
EFFORT_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}
STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
                "refusal": "content_filter", "pause_turn": "stop"}
STREAM_ERRORS = {"overloaded_error": 529, "rate_limit_error": 429, "api_error": 500, "timeout_error": 408,
                 "authentication_error": 401, "permission_error": 403, "not_found_error": 404,
                 "invalid_request_error": 400, "billing_error": 402, "request_too_large": 413}
NAME = "Anthropic"


def _headers(route: Route, *, stream: bool = False) -> dict:
    return {"x-api-key": route.api_key, "anthropic-version": API_VERSION, "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json"}


def _block(attachment: Attachment) -> dict:
    if attachment.kind == "image":
        if attachment.url:
            return {"type": "image", "source": {"type": "url", "url": attachment.url}}
        return {"type": "image", "source": {"type": "base64", "media_type": attachment.media_type,
                                            "data": base64_of(attachment)}}
    if attachment.kind == "pdf":
        return {"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                               "data": base64_of(attachment)}}
    return {"type": "text", "text": attachment_text(attachment)}


def _user_content(message) -> str | list:
    if not message.attachments:
        return message.content
    blocks = [_block(attachment) for attachment in message.attachments]
    if message.content:  # Anthropic refuses empty text blocks
        blocks.append({"type": "text", "text": message.content})
    return blocks


def _message(message) -> dict | None:
    meta = replay_metadata(message)
    if message.role == "tool":
        block = {"type": "tool_result", "tool_use_id": meta.get("tool_call_id", ""), "content": message.content}
        if meta.get("is_error"):
            block["is_error"] = True
        return {"role": "user", "content": [block]}
    if message.role != "assistant":
        return {"role": "user", "content": _user_content(message)}
    blocks = list(meta.get("anthropic_thinking") or [])  # replayed unchanged: the signature covers them
    if message.content:
        blocks.append({"type": "text", "text": message.content})
    for call in meta.get("tool_calls") or ():
        try:
            arguments = json.loads(call.get("arguments") or "{}")
        except ValueError:
            arguments = {}
        blocks.append({"type": "tool_use", "id": call["id"], "name": call["name"], "input": arguments})
    if not blocks:
        return None  # Anthropic refuses empty assistant turns (e.g. a cancelled reply)
    if len(blocks) == 1 and blocks[0]["type"] == "text":
        return {"role": "assistant", "content": message.content}
    return {"role": "assistant", "content": blocks}


def _merged(messages: list[dict]) -> list[dict]:
    """The results of one round's calls go back together, in the one user turn that follows the calls."""
    out: list[dict] = []
    for message in messages:
        previous = out[-1] if out else None
        if (previous is not None and message["role"] == previous["role"] == "user"
                and _all_results(previous["content"]) and _all_results(message["content"])):
            previous["content"] = previous["content"] + message["content"]
        else:
            out.append(message)
    return out


def _all_results(content) -> bool:
    return isinstance(content, list) and all(block.get("type") == "tool_result" for block in content)


def tool_choice(choice, parallel: bool | None) -> dict | None:
    """OpenAI's tool_choice ("auto" | "none" | "required" | {"type": "function", ...}) in Anthropic's form."""
    if isinstance(choice, dict):
        out = {"type": "tool", "name": (choice.get("function") or {}).get("name", "")}
    elif choice in ("auto", "none"):
        out = {"type": choice}
    elif choice == "required":
        out = {"type": "any"}
    elif parallel is False:
        out = {"type": "auto"}
    else:
        return None
    if parallel is False and out["type"] != "none":
        out["disable_parallel_tool_use"] = True
    return out


def json_instruction(response_format: dict | None) -> str:
    """Anthropic has no JSON mode: OpenAI's response_format becomes an instruction at the end of the system prompt."""
    kind = (response_format or {}).get("type")
    if kind == "json_object":
        return "Answer with one valid JSON object only, with no text before or after it."
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        return ("Answer with one valid JSON object only, with no text before or after it, matching this JSON "
                f"Schema:\n{json.dumps(schema)}")
    return ""


class AnthropicTranslator(StreamTranslator):
    """message_start … content_block_* … message_delta, ending with message_stop."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self.blocks: dict[int, dict] = {}
        self.usage = {"prompt_tokens": 0, "completion_tokens": 0, "reasoning_tokens": 0, "cached_tokens": 0,
                      "cost": None}
        self.stop_reason = ""
        self.citations: list = []
        self.tool_calls: list[dict] = []

    def feed(self, sse) -> list[StreamEvent]:
        kind = sse.event
        if kind == "ping" or not sse.data:
            return []
        try:
            payload = json.loads(sse.data)
        except ValueError:
            raise errors.UpstreamServerError("Anthropic sent a stream event that is not JSON.", provider="anthropic")
        kind = payload.get("type", kind)
        if kind == "content_block_delta":
            return self._delta(payload)
        if kind == "content_block_start":
            block = dict(payload.get("content_block") or {})
            block.setdefault("partial_json", "")
            self.blocks[payload.get("index", 0)] = block
            return []
        if kind == "content_block_stop":
            block = self.blocks.get(payload.get("index", 0)) or {}
            if block.get("type") == "tool_use":
                call = {"id": block.get("id", ""), "name": block.get("name", ""),
                        "arguments": block.get("partial_json") or json.dumps(block.get("input") or {})}
                self.tool_calls.append(call)
                return [StreamEvent(EventKind.TOOL_CALL, data=call)]
            return []
        if kind == "message_start":
            usage = (payload.get("message") or {}).get("usage") or {}
            self.usage["prompt_tokens"] = (int(usage.get("input_tokens") or 0)
                                           + int(usage.get("cache_read_input_tokens") or 0)
                                           + int(usage.get("cache_creation_input_tokens") or 0))
            self.usage["cached_tokens"] = int(usage.get("cache_read_input_tokens") or 0)
            self.usage["completion_tokens"] = int(usage.get("output_tokens") or 0)
            return []
        if kind == "message_delta":
            self.stop_reason = (payload.get("delta") or {}).get("stop_reason") or self.stop_reason
            usage = payload.get("usage") or {}
            if usage.get("output_tokens") is not None:
                self.usage["completion_tokens"] = int(usage["output_tokens"])
            return []
        if kind == "message_stop":
            thinking = []
            for _, block in sorted(self.blocks.items()):
                if block.get("type") in ("thinking", "redacted_thinking"):
                    if "thinking_pieces" in block:
                        block["thinking"] = block.get("thinking", "") + "".join(block["thinking_pieces"])
                    thinking.append({key: block[key] for key in ("type", "thinking", "signature", "data")
                                     if key in block})
            metadata = {"anthropic_thinking": thinking} if thinking else {}
            if self.tool_calls:
                metadata["tool_calls"] = list(self.tool_calls)
            return [StreamEvent(EventKind.USAGE, data=dict(self.usage)),
                    StreamEvent(EventKind.FINISH, data={"finish_reason": STOP_REASONS.get(self.stop_reason,
                                                                                           self.stop_reason or "stop")},
                                metadata=metadata)]
        if kind == "error":
            error = payload.get("error") or {}
            error_type = error.get("type", "api_error")
            return self._raise(STREAM_ERRORS.get(error_type, 500), error_type, error.get("message", ""))
        return []

    def _delta(self, payload: dict) -> list[StreamEvent]:
        delta = payload.get("delta") or {}
        block = self.blocks.setdefault(payload.get("index", 0), {"type": "text", "partial_json": ""})
        kind = delta.get("type")
        if kind == "text_delta":
            return [StreamEvent(EventKind.TEXT, delta.get("text", ""))] if delta.get("text") else []
        if kind == "thinking_delta":
            block.setdefault("thinking_pieces", []).append(delta.get("thinking", ""))  # joined at the end
            return [StreamEvent(EventKind.REASONING, delta.get("thinking", ""))] if delta.get("thinking") else []
        if kind == "signature_delta":
            block["signature"] = block.get("signature", "") + delta.get("signature", "")
            return []
        if kind == "input_json_delta":
            block["partial_json"] += delta.get("partial_json", "")
            return []
        if kind == "citations_delta":
            cited = delta.get("citation") or {}
            if cited.get("url"):
                self.citations.append({"url": cited["url"], "title": cited.get("title", "")})
                return [StreamEvent(EventKind.CITATIONS, data={"citations": list(self.citations)})]
        return []

    def _raise(self, status: int, kind: str, message: str):
        raise errors.for_status(status, provider=self.route.provider, name=NAME,
                                detail=errors.scrub(message, self.route.api_key), kind=kind)


class AnthropicMessagesAdapter(HttpAdapter):
    protocol = "anthropic_messages"

    def build_call(self, route: Route, request: ChatRequest) -> HttpCall:
        params = request.params or {}
        messages = _merged([m for m in (_message(message) for message in request.messages) if m is not None])
        max_tokens = int(params.get("max_tokens") or DEFAULT_MAX_TOKENS)
        body: dict = {"model": route.model_id, "messages": messages, "max_tokens": max_tokens, "stream": True}
        if request.system:
            body["system"] = request.system
        budget = params.get("thinking_budget") or EFFORT_BUDGETS.get(params.get("reasoning_effort") or "")
        if budget:
            budget = max(1024, int(budget))
            # The thinking budget must stay below max_tokens, and thinking forbids temperature/top_p changes.
            body["max_tokens"] = max(max_tokens, budget + 1024)
            body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        else:
            for name in ("temperature", "top_p"):
                if params.get(name) is not None:
                    body[name] = params[name]
        if params.get("tools"):
            body["tools"] = [
                {"name": tool["function"]["name"], "description": tool["function"].get("description", ""),
                 "input_schema": tool["function"].get("parameters") or {"type": "object", "properties": {}}}
                for tool in params["tools"] if tool.get("function")
            ]
            choice = tool_choice(params.get("tool_choice"), params.get("parallel_tool_calls"))
            if choice:
                body["tool_choice"] = choice
        if params.get("stop"):
            body["stop_sequences"] = list(params["stop"])
        instruction = json_instruction(params.get("response_format"))
        if instruction:
            body["system"] = f"{request.system}\n\n{instruction}" if request.system else instruction
        return HttpCall("POST", f"{route.base_url}/v1/messages", _headers(route, stream=True), body)

    def translator(self, route: Route) -> AnthropicTranslator:
        return AnthropicTranslator(route)

    def error_from_response(self, route: Route, status: int, body: bytes, headers) -> errors.ProviderError:
        detail, kind = "", ""
        try:
            error = (json.loads(body) or {}).get("error") or {}
            detail, kind = str(error.get("message") or ""), str(error.get("type") or "")
        except (ValueError, AttributeError):
            detail = "the answer was not JSON" if body else ""
        return errors.for_status(status, provider=route.provider, name=NAME,
                                 detail=errors.scrub(detail, route.api_key), kind=kind,
                                 retry_after=errors.parse_retry_after(headers.get("retry-after")))

    async def list_models(self, route: Route) -> list[dict]:
        models, after = [], ""
        for _ in range(50):  # pages; a bound so a looping server cannot hold us forever
            url = f"{route.base_url}/v1/models?limit=100" + (f"&after_id={after}" if after else "")
            response = await send(route, HttpCall("GET", url, _headers(route)), stream=False)
            page = response.json()
            for item in page.get("data") or ():
                model_id = item["id"]
                capabilities = ["text", "vision", "pdf", "tools"]  # every current Claude reads images and PDFs
                if not model_id.startswith(("claude-3-5", "claude-3-haiku", "claude-3-opus", "claude-3-sonnet")):
                    capabilities.append("reasoning")
                models.append({"id": f"{route.provider}/{model_id}", "provider": route.provider,
                               "name": item.get("display_name") or model_id, "context_length": None,
                               "pricing": {"prompt": None, "completion": None}, "capabilities": capabilities})
            if not page.get("has_more") or not page.get("last_id"):
                break
            after = page["last_id"]
        return models

    async def validate_key(self, route: Route) -> tuple[bool, str]:
        try:
            await send(route, HttpCall("GET", f"{route.base_url}/v1/models?limit=1", _headers(route)), stream=False)
        except (errors.InvalidApiKey, errors.InsufficientCredit) as exc:
            return False, exc.message
        return True, "Anthropic accepted the key."
