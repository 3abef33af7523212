"""OpenAI chat completions over SSE: OpenAI, OpenRouter, xAI, Perplexity, DeepSeek, Ollama and custom servers."""
import json
from decimal import Decimal, InvalidOperation

from django.conf import settings

from providers import errors
from providers.base import (
    Attachment,
    ChatRequest,
    HttpAdapter,
    Route,
    StreamTranslator,
    ToolCallAssembler,
    attachment_text,
    data_url,
    replay_metadata,
)
from providers.events import EventKind, StreamEvent, prompt_usage
from providers.registry import ProviderSpec, custom_spec, get_spec
from providers.transport import HttpCall, send

FINISH_REASONS = {"stop": "stop", "length": "length", "tool_calls": "tool_calls", "function_call": "tool_calls",
                  "content_filter": "content_filter", "end_turn": "stop"}
# Request params in OpenAI's own vocabulary that go on the wire unchanged (the other adapters translate them).
PASSTHROUGH_PARAMS = ("tool_choice", "parallel_tool_calls", "stop", "response_format", "seed", "presence_penalty",
                      "frequency_penalty")


OPENAI_VISION_PREFIXES = ("gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-4-turbo", "gpt-5", "o1", "o3", "o4")
XAI_VISION_PREFIXES = ("grok-4", "grok-2-vision", "grok-vision")
KNOWN_INPUTS = {
    "openai": lambda model_id: ({"image", "file"} if model_id.startswith(OPENAI_VISION_PREFIXES)
                                and "mini-tts" not in model_id and "audio" not in model_id else set()),
    "xai": lambda model_id: {"image"} if model_id.startswith(XAI_VISION_PREFIXES) else set(),
}


def spec_for(route: Route) -> ProviderSpec:
    return get_spec(route.provider) or custom_spec(slug=route.provider, name=route.provider, base_url=route.base_url)


def _url(route: Route, path: str) -> str:
    return route.base_url.rstrip("/") + path


def _headers(route: Route, spec: ProviderSpec, *, stream: bool = False) -> dict:
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream" if stream else "application/json"}
    if route.api_key:
        headers["Authorization"] = f"Bearer {route.api_key}"
    if spec.attribution_headers:
        headers["HTTP-Referer"] = settings.APP_URL
        headers["X-Title"] = settings.APP_TITLE
    return headers


def _part(attachment: Attachment) -> dict:
    if attachment.kind == "image":
        return {"type": "image_url", "image_url": {"url": attachment.url or data_url(attachment)}}
    if attachment.kind == "pdf":
        return {"type": "file", "file": {"filename": attachment.name or "document.pdf",
                                         "file_data": data_url(attachment)}}
    return {"type": "text", "text": attachment_text(attachment)}


def _content(message) -> str | list:
    """Plain string content, or (a user message with attachments) the attachments' parts, then the text."""
    if message.role != "user" or not message.attachments:
        return message.content
    parts = [_part(attachment) for attachment in message.attachments]
    if message.content:
        parts.append({"type": "text", "text": message.content})
    return parts


def _message(message) -> dict:
    out: dict = {"role": message.role, "content": _content(message)}
    meta = replay_metadata(message)
    if message.role == "tool":
        out["tool_call_id"] = meta.get("tool_call_id", "")
    if message.role == "assistant":
        if meta.get("tool_calls"):
            out["tool_calls"] = [
                {"id": call["id"], "type": "function",
                 "function": {"name": call["name"], "arguments": call.get("arguments") or "{}"}}
                for call in meta["tool_calls"]
            ]
        if meta.get("reasoning_details"):
            # OpenRouter takes reasoning back for continuity; other servers never get this key.
            out["reasoning_details"] = meta["reasoning_details"]
    return out


def usage_from(raw: dict) -> dict:
    """OpenAI-style usage → Parley's usage keys (completion_tokens include reasoning tokens)."""
    completion_details = raw.get("completion_tokens_details") or {}
    prompt_details = raw.get("prompt_tokens_details") or {}
    cost = raw.get("cost")
    if isinstance(cost, dict):  # Perplexity: {"input_tokens_cost", ..., "total_cost"}
        cost = cost.get("total_cost")
    try:
        cost = Decimal(str(cost)) if cost is not None else None
    except InvalidOperation:
        cost = None
    return {
        "prompt_tokens": int(raw.get("prompt_tokens") or 0),
        "completion_tokens": int(raw.get("completion_tokens") or 0),
        "reasoning_tokens": int(completion_details.get("reasoning_tokens") or raw.get("reasoning_tokens") or 0),
        "cached_tokens": int(prompt_details.get("cached_tokens") or raw.get("prompt_cache_hit_tokens") or 0),
        "cost": cost,
    }


class ThinkTagSplitter:
    """Reasoning a model writes inline as a leading `<think>…</think>` (Perplexity sonar-reasoning, R1-style
    models on Ollama or vLLM) becomes reasoning; tags split across chunks are held back until they are whole."""

    OPEN, CLOSE = "<think>", "</think>"

    def __init__(self) -> None:
        self.state = "start"  # "start" (undecided) | "thinking" | "after" (</think> seen) | "text"
        self.pending = ""

    def feed(self, text: str) -> list[StreamEvent]:
        if self.state == "text":
            return [StreamEvent(EventKind.TEXT, text)]
        if self.state == "after":  # the blank lines between </think> and the answer are not the answer
            text = text.lstrip()
            if not text:
                return []
            self.state = "text"
            return [StreamEvent(EventKind.TEXT, text)]
        self.pending += text
        events: list[StreamEvent] = []
        if self.state == "start":
            head = self.pending.lstrip()
            if head.startswith(self.OPEN):
                self.state, self.pending = "thinking", head[len(self.OPEN):]
            elif self.OPEN.startswith(head):
                return events  # still could be "<think>"
            else:
                everything, self.state, self.pending = self.pending, "text", ""
                return [StreamEvent(EventKind.TEXT, everything)]
        if self.state == "thinking":
            end = self.pending.find(self.CLOSE)
            if end >= 0:
                reasoning, rest = self.pending[:end], self.pending[end + len(self.CLOSE):]
                self.state, self.pending = "after", ""
                if reasoning:
                    events.append(StreamEvent(EventKind.REASONING, reasoning))
                return events + (self.feed(rest) if rest else [])
            keep = _partial_suffix(self.pending, self.CLOSE)
            ready, self.pending = self.pending[:len(self.pending) - keep], self.pending[len(self.pending) - keep:]
            if ready:
                events.append(StreamEvent(EventKind.REASONING, ready))
        return events

    def flush(self) -> list[StreamEvent]:
        pending, self.pending = self.pending, ""
        if not pending:
            return []
        return [StreamEvent(EventKind.REASONING if self.state == "thinking" else EventKind.TEXT, pending)]


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest end of `text` that begins `tag` (a tag still arriving)."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


class OpenAIChatTranslator(StreamTranslator):
    """One chat.completion.chunk stream; the end marker is `data: [DONE]`."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self.finish_reason = ""
        self.usage: dict | None = None
        self.tools = ToolCallAssembler()
        self.citations: list | None = None
        self.reasoning_details: dict[tuple, dict] = {}
        self.think_tags = ThinkTagSplitter() if spec_for(route).inline_think_tags else None

    def feed(self, sse) -> list[StreamEvent]:
        data = sse.data
        if data == "[DONE]":
            return self._finish()
        if not data.strip():
            return []
        try:
            chunk = json.loads(data)
        except ValueError:
            raise errors.UpstreamServerError(f"{self.route.provider} sent a stream event that is not JSON.",
                                             provider=self.route.provider)
        if not isinstance(chunk, dict):
            return []
        if chunk.get("error"):
            raise self._stream_error(chunk["error"])
        if chunk.get("object") == "error":  # vLLM's shape
            raise self._stream_error(chunk)
        events: list[StreamEvent] = []
        self._citations(chunk, events)
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            details = delta.get("reasoning_details")
            if details:
                detail_text = self._add_details(details)
                if not reasoning and detail_text:
                    reasoning = detail_text
            if reasoning and isinstance(reasoning, str):
                events.append(StreamEvent(EventKind.REASONING, reasoning))
            content = delta.get("content")
            if content and isinstance(content, str):
                if self.think_tags is not None:
                    events.extend(self.think_tags.feed(content))
                else:
                    events.append(StreamEvent(EventKind.TEXT, content))
            for call in delta.get("tool_calls") or ():
                function = call.get("function") or {}
                self.tools.add(call.get("index", 0), id=call.get("id"), name=function.get("name"),
                               arguments=function.get("arguments") or "")
            for annotation in delta.get("annotations") or ():
                cited = annotation.get("url_citation") if isinstance(annotation, dict) else None
                if cited and cited.get("url"):
                    self.citations = (self.citations or []) + [{"url": cited["url"], "title": cited.get("title", "")}]
                    events.append(StreamEvent(EventKind.CITATIONS, data={"citations": list(self.citations)}))
            if choice.get("finish_reason"):
                reason = choice["finish_reason"]
                if reason == "error":
                    raise errors.UpstreamServerError(f"{self.route.provider} reported an error mid-reply.",
                                                     provider=self.route.provider)
                self.finish_reason = FINISH_REASONS.get(reason, reason)
        if chunk.get("usage"):
            if self.usage is None and not self.finish_reason:  # told mid-stream (Perplexity), for a reply ending early
                events.append(prompt_usage(usage_from(chunk["usage"])))
            self.usage = usage_from(chunk["usage"])
        return events

    def close(self) -> list[StreamEvent]:
        if self.finish_reason and not spec_for(self.route).done_marker_required:
            return self._finish()
        return []

    def _finish(self) -> list[StreamEvent]:
        events = self.think_tags.flush() if self.think_tags is not None else []
        events += self.tools.drain()
        if self.usage is not None:
            events.append(StreamEvent(EventKind.USAGE, data=self.usage))
        metadata = {}
        if self.reasoning_details:
            metadata["reasoning_details"] = [
                {k: "".join(v) if k in ("text", "summary", "data") else v for k, v in detail.items()}
                for detail in self.reasoning_details.values()
            ]
        tool_calls = [event.data for event in events if event.kind is EventKind.TOOL_CALL]
        if tool_calls:
            metadata["tool_calls"] = tool_calls
        events.append(StreamEvent(EventKind.FINISH, data={"finish_reason": self.finish_reason or "stop"},
                                  metadata=metadata))
        return events

    def _add_details(self, details: list) -> str:
        """Merge OpenRouter reasoning_details fragments (by type and index); return their new readable text."""
        text = []
        for detail in details:
            if not isinstance(detail, dict):
                continue
            key = (detail.get("type"), detail.get("index", 0))
            stored = self.reasoning_details.setdefault(
                key, {k: v for k, v in detail.items() if k not in ("text", "summary", "data")})
            for field in ("text", "summary", "data"):
                piece = detail.get(field)
                if piece:
                    stored.setdefault(field, []).append(piece)  # joined in _finish
                    if field != "data":
                        text.append(piece)
            for field in ("signature", "id", "format"):
                if detail.get(field):
                    stored[field] = detail[field]
        return "".join(text)

    def _citations(self, chunk: dict, events: list) -> None:
        results = chunk.get("search_results")
        if results:
            found = [{"url": item.get("url", ""), "title": item.get("title", "")}
                     for item in results if isinstance(item, dict)]
        else:
            found = chunk.get("citations")
        if found and found != self.citations:
            self.citations = list(found)
            events.append(StreamEvent(EventKind.CITATIONS, data={"citations": list(found)}))

    def _stream_error(self, error) -> errors.ProviderError:
        if not isinstance(error, dict):
            error = {"message": str(error)}
        code = error.get("code")
        kind = str(error.get("type") or (code if isinstance(code, str) else "") or "")
        status = code if isinstance(code, int) else 500
        name = spec_for(self.route).name
        message = errors.scrub(str(error.get("message") or ""), self.route.api_key)
        if status == 500 and "rate_limit" in kind:
            status = 429
        if status == 500 and "overloaded" in kind:
            status = 503
        return errors.for_status(status, provider=self.route.provider, name=name, detail=message, kind=kind)


class _Whole:
    """A stand-in SSE event for replaying a whole JSON answer through the stream translator."""

    __slots__ = ("data",)

    def __init__(self, data: str) -> None:
        self.data = data


class OpenAIChatAdapter(HttpAdapter):
    protocol = "openai_chat"

    def build_call(self, route: Route, request: ChatRequest) -> HttpCall:
        spec = spec_for(route)
        params = request.params or {}
        messages = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.extend(_message(message) for message in request.messages)
        body: dict = {"model": route.model_id, "messages": messages, "stream": True}
        if spec.stream_usage_option:
            body["stream_options"] = {"include_usage": True}
        reasoning_model = route.model_id.startswith(spec.reasoning_model_prefixes)  # () matches nothing
        if not reasoning_model:
            for name in ("temperature", "top_p"):
                if params.get(name) is not None:
                    body[name] = params[name]
        if params.get("max_tokens"):
            body[spec.max_tokens_param] = int(params["max_tokens"])
        effort, budget = params.get("reasoning_effort"), params.get("thinking_budget")
        if spec.reasoning_param == "openrouter" and (effort or budget):
            body["reasoning"] = {"max_tokens": int(budget)} if budget else {"effort": effort}
        elif spec.reasoning_param == "reasoning_effort" and effort:
            if not spec.effort_model_prefixes or route.model_id.startswith(spec.effort_model_prefixes):
                body["reasoning_effort"] = effort
        if params.get("tools"):
            body["tools"] = params["tools"]
        for name in PASSTHROUGH_PARAMS:  # already in this protocol's own form
            if params.get(name) is not None:
                body[name] = params[name]
        body.update(spec.extra_body)
        return HttpCall("POST", _url(route, "/chat/completions"), _headers(route, spec, stream=True), body)

    def translator(self, route: Route) -> OpenAIChatTranslator:
        return OpenAIChatTranslator(route)

    def error_from_response(self, route: Route, status: int, body: bytes, headers) -> errors.ProviderError:
        spec = spec_for(route)
        detail, kind = "", ""
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            error = payload.get("error", payload)
            if isinstance(error, dict):
                detail = str(error.get("message") or "")
                code = error.get("code")
                kind = " ".join(str(v) for v in (error.get("type"), code if isinstance(code, str) else None) if v)
            elif isinstance(error, str):
                detail = error
        elif body:
            detail = "" if body.lstrip()[:1] == b"<" else body[:200].decode("utf-8", "replace")
            if not detail:
                detail = "the answer was not JSON"
        return errors.for_status(status, provider=route.provider, name=spec.name,
                                 detail=errors.scrub(detail, route.api_key), kind=kind,
                                 retry_after=errors.parse_retry_after(headers.get("retry-after")))

    def whole_response(self, route: Route, body: bytes) -> list[StreamEvent]:
        """A non-streamed chat.completion (some self-hosted servers ignore `stream`), as the same events."""
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        choices = payload.get("choices") if isinstance(payload, dict) else None
        if not choices or payload.get("error"):
            raise self.error_from_response(route, 502, body, {})
        message = choices[0].get("message") or {}
        translator = OpenAIChatTranslator(route)
        delta = {key: message.get(key) for key in ("content", "reasoning_content", "reasoning", "reasoning_details")}
        delta["tool_calls"] = [dict(call, index=i) for i, call in enumerate(message.get("tool_calls") or ())]
        chunk = {k: v for k, v in payload.items() if k != "choices"}
        chunk["choices"] = [{"index": 0, "delta": delta, "finish_reason": choices[0].get("finish_reason") or "stop"}]
        events = translator.feed(_Whole(json.dumps(chunk)))
        return events + translator.feed(_Whole("[DONE]"))

    async def list_models(self, route: Route) -> list[dict]:
        spec = spec_for(route)
        if not spec.has_models_endpoint:
            return [self._entry(route.provider, {"id": model_id}) for model_id in spec.static_models]
        response = await send(route, HttpCall("GET", _url(route, "/models"), _headers(route, spec)), stream=False)
        try:
            payload = response.json()
        except ValueError:
            raise errors.UpstreamServerError(f"{spec.name} sent a model list that is not JSON.",
                                             provider=route.provider)
        items = payload.get("data") if isinstance(payload, dict) else payload
        return [self._entry(route.provider, item) for item in items or () if isinstance(item, dict) and item.get("id")]

    def _entry(self, provider: str, item: dict) -> dict:
        pricing = item.get("pricing") or {}
        capabilities = ["text"]
        modalities = set((item.get("architecture") or {}).get("input_modalities") or [])
        # OpenAI's and xAI's model lists say nothing of inputs: their vision models are known by name.
        modalities |= KNOWN_INPUTS.get(provider, lambda model_id: set())(str(item["id"]))
        if "image" in modalities:
            capabilities.append("vision")
        if "file" in modalities:
            capabilities.append("pdf")
        supported = item.get("supported_parameters") or []
        if "tools" in supported:
            capabilities.append("tools")
        if "reasoning" in supported or "include_reasoning" in supported:
            capabilities.append("reasoning")
        return {
            "id": f"{provider}/{item['id']}",
            "provider": provider,
            "name": item.get("name") or item["id"],
            "context_length": item.get("context_length") or item.get("context_window"),
            "pricing": {"prompt": pricing.get("prompt"), "completion": pricing.get("completion")},
            "capabilities": capabilities,
        }

    async def validate_key(self, route: Route) -> tuple[bool, str]:
        spec = spec_for(route)
        if route.provider == "openrouter":
            # OpenRouter lists models without a key; its key endpoint is the cheap authenticated call.
            call = HttpCall("GET", _url(route, "/key"), _headers(route, spec))
        elif spec.has_models_endpoint:
            call = HttpCall("GET", _url(route, "/models"), _headers(route, spec))
        else:
            call = HttpCall("POST", _url(route, "/chat/completions"), _headers(route, spec),
                            {"model": spec.static_models[0], "messages": [{"role": "user", "content": "hi"}],
                             "max_tokens": 1})
        try:
            await send(route, call, stream=False)
        except (errors.InvalidApiKey, errors.InsufficientCredit) as exc:
            return False, exc.message
        return True, f"{spec.name} accepted the key."
