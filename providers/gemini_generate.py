"""Gemini streamGenerateContent over SSE: thought parts, text, function calls, grounding, usageMetadata."""
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

NAME = "Google Gemini"
EFFORT_BUDGETS = {"minimal": 512, "low": 1024, "medium": 8192, "high": 24576}
FINISH_REASONS = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter", "RECITATION": "content_filter",
                  "BLOCKLIST": "content_filter", "PROHIBITED_CONTENT": "content_filter", "SPII": "content_filter",
                  "IMAGE_SAFETY": "content_filter"}
THINKING_MODEL_PREFIXES = ("gemini-2.5", "gemini-3")
CONFIG_PARAMS = (("temperature", "temperature"), ("top_p", "topP"), ("max_tokens", "maxOutputTokens"),
                 ("seed", "seed"), ("presence_penalty", "presencePenalty"), ("frequency_penalty", "frequencyPenalty"))


def function_calling_config(choice) -> dict | None:
    """OpenAI's tool_choice as Gemini's functionCallingConfig."""
    if isinstance(choice, dict):
        return {"mode": "ANY", "allowedFunctionNames": [(choice.get("function") or {}).get("name", "")]}
    return {"auto": {"mode": "AUTO"}, "none": {"mode": "NONE"}, "required": {"mode": "ANY"}}.get(choice)


def response_config(response_format: dict | None) -> dict:
    """OpenAI's response_format as generationConfig fields: JSON output, with a JSON Schema when one is given."""
    kind = (response_format or {}).get("type")
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        return {"responseMimeType": "application/json", **({"responseJsonSchema": schema} if schema else {})}
    return {}


def _headers(route: Route, *, stream: bool = False) -> dict:
    return {"x-goog-api-key": route.api_key, "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json"}


def _content(message, tool_names: dict) -> dict | None:
    meta = replay_metadata(message)
    if message.role == "tool":
        name = meta.get("tool_name") or tool_names.get(meta.get("tool_call_id"), "")
        response = {"error": message.content} if meta.get("is_error") else {"content": message.content}
        return {"role": "user", "parts": [{"functionResponse": {"name": name, "response": response}}]}
    if message.role == "assistant":
        # Parts as Gemini sent them, thought signatures included, so it can continue its reasoning.
        parts = list(meta.get("gemini_parts") or [])
        if not parts:
            parts = [{"text": message.content}] if message.content else []
            for call in meta.get("tool_calls") or ():
                try:
                    arguments = json.loads(call.get("arguments") or "{}")
                except ValueError:
                    arguments = {}
                parts.append({"functionCall": {"name": call.get("name", ""), "args": arguments}})
        return {"role": "model", "parts": parts} if parts else None
    parts = [_part(attachment) for attachment in message.attachments]
    if message.content or not parts:
        parts.append({"text": message.content})
    return {"role": "user", "parts": parts}


def _responses(content: dict) -> bool:
    return content["role"] == "user" and all("functionResponse" in part for part in content["parts"])


def _part(attachment: Attachment) -> dict:
    if attachment.kind in ("image", "pdf"):
        if attachment.url:
            file_data = {"file_uri": attachment.url}
            if attachment.media_type:
                file_data = {"mime_type": attachment.media_type, **file_data}
            return {"file_data": file_data}
        return {"inline_data": {"mime_type": attachment.media_type, "data": base64_of(attachment)}}
    return {"text": attachment_text(attachment)}


class GeminiTranslator(StreamTranslator):
    """Each event is a GenerateContentResponse; a candidate's finishReason marks the end."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self.usage: dict | None = None
        self.parts: list[dict] = []
        self.tool_calls: list[dict] = []
        self.citations: list = []

    def feed(self, sse) -> list[StreamEvent]:
        if not sse.data.strip():
            return []
        try:
            payload = json.loads(sse.data)
        except ValueError:
            raise errors.UpstreamServerError("Gemini sent a stream event that is not JSON.", provider="gemini")
        if isinstance(payload, list):  # a JSON-array framing; SSE should not send it, but be lenient
            return [event for item in payload for event in self._response(item)]
        return self._response(payload)

    def _response(self, payload: dict) -> list[StreamEvent]:
        if payload.get("error"):
            error = payload["error"]
            raise errors.for_status(int(error.get("code") or 500), provider=self.route.provider, name=NAME,
                                    detail=errors.scrub(str(error.get("message") or ""), self.route.api_key),
                                    kind=str(error.get("status") or ""))
        block = (payload.get("promptFeedback") or {}).get("blockReason")
        if block:
            raise errors.ContentFiltered(f"Gemini blocked the prompt ({block}).", provider=self.route.provider)
        if payload.get("usageMetadata"):
            self.usage = payload["usageMetadata"]  # cumulative; read once, at the end
        events: list[StreamEvent] = []
        candidates = payload.get("candidates") or []
        if not candidates:
            return events
        candidate = candidates[0]
        for part in (candidate.get("content") or {}).get("parts") or ():
            if part.get("thought"):
                if part.get("text"):
                    events.append(StreamEvent(EventKind.REASONING, part["text"]))
                continue
            if "text" in part:
                if part["text"]:
                    events.append(StreamEvent(EventKind.TEXT, part["text"]))
                self._keep_part(part)
            elif "functionCall" in part:
                call = part["functionCall"]
                data = {"id": call.get("id") or f"call_{len(self.tool_calls) + 1}", "name": call.get("name", ""),
                        "arguments": json.dumps(call.get("args") or {})}
                self.tool_calls.append(data)
                self.parts.append(part)
                events.append(StreamEvent(EventKind.TOOL_CALL, data=data))
        grounding = candidate.get("groundingMetadata") or {}
        for chunk in grounding.get("groundingChunks") or ():
            web = chunk.get("web") or {}
            if web.get("uri"):
                self.citations.append({"url": web["uri"], "title": web.get("title", "")})
        if grounding.get("groundingChunks"):
            events.append(StreamEvent(EventKind.CITATIONS, data={"citations": list(self.citations)}))
        reason = candidate.get("finishReason")
        if reason and reason != "FINISH_REASON_UNSPECIFIED":
            if self.usage is not None:
                events.append(StreamEvent(EventKind.USAGE, data=self._usage(self.usage)))
            finish = "tool_calls" if self.tool_calls else FINISH_REASONS.get(reason, reason.lower())
            metadata = {}
            if self.tool_calls or any("thoughtSignature" in p for p in self.parts):
                metadata["gemini_parts"] = self._replay_parts()
            if self.tool_calls:
                metadata["tool_calls"] = list(self.tool_calls)
            events.append(StreamEvent(EventKind.FINISH, data={"finish_reason": finish}, metadata=metadata))
        return events

    def _keep_part(self, part: dict) -> None:
        """Text parts merged into one per signature, as Gemini expects them back (joined once, at the end)."""
        last = self.parts[-1] if self.parts else None
        if last is not None and "text" in last and "thoughtSignature" not in part:
            last["text"].append(part["text"])
        else:
            self.parts.append(dict(part, text=[part["text"]]))

    def _replay_parts(self) -> list[dict]:
        return [dict(p, text="".join(p["text"])) if isinstance(p.get("text"), list) else p for p in self.parts]

    @staticmethod
    def _usage(raw: dict) -> dict:
        thoughts = int(raw.get("thoughtsTokenCount") or 0)
        return {"prompt_tokens": int(raw.get("promptTokenCount") or 0),
                "completion_tokens": int(raw.get("candidatesTokenCount") or 0) + thoughts,
                "reasoning_tokens": thoughts, "cached_tokens": int(raw.get("cachedContentTokenCount") or 0),
                "cost": None}


class GeminiGenerateAdapter(HttpAdapter):
    protocol = "gemini_generate"

    def build_call(self, route: Route, request: ChatRequest) -> HttpCall:
        params = request.params or {}
        tool_names = {call.get("id"): call.get("name", "") for message in request.messages
                      for call in replay_metadata(message).get("tool_calls") or ()}
        contents = []
        for content in (_content(message, tool_names) for message in request.messages):
            if content is None:
                continue
            if contents and _responses(content) and _responses(contents[-1]):
                contents[-1]["parts"] = contents[-1]["parts"] + content["parts"]  # one round's results together
            else:
                contents.append(content)
        body: dict = {"contents": contents}
        if request.system:
            body["systemInstruction"] = {"parts": [{"text": request.system}]}
        config: dict = {}
        for ours, theirs in CONFIG_PARAMS:
            if params.get(ours) is not None:
                config[theirs] = params[ours]
        if params.get("stop"):
            config["stopSequences"] = list(params["stop"])
        config.update(response_config(params.get("response_format")))
        budget, effort = params.get("thinking_budget"), params.get("reasoning_effort")
        if budget or effort or route.model_id.startswith(THINKING_MODEL_PREFIXES):
            thinking: dict = {"includeThoughts": True}
            if route.model_id.startswith("gemini-3") and effort and not budget:
                thinking["thinkingLevel"] = "low" if effort in ("minimal", "low") else "high"
            elif budget or effort:
                thinking["thinkingBudget"] = int(budget or EFFORT_BUDGETS.get(effort, 8192))
            config["thinkingConfig"] = thinking
        if config:
            body["generationConfig"] = config
        if params.get("tools"):
            body["tools"] = [{"functionDeclarations": [
                {"name": tool["function"]["name"], "description": tool["function"].get("description", ""),
                 "parameters": tool["function"].get("parameters") or {"type": "object", "properties": {}}}
                for tool in params["tools"] if tool.get("function")
            ]}]
            calling = function_calling_config(params.get("tool_choice"))
            if calling:
                body["toolConfig"] = {"functionCallingConfig": calling}
        url = f"{route.base_url}/v1beta/models/{route.model_id}:streamGenerateContent?alt=sse"
        return HttpCall("POST", url, _headers(route, stream=True), body)

    def translator(self, route: Route) -> GeminiTranslator:
        return GeminiTranslator(route)

    def error_from_response(self, route: Route, status: int, body: bytes, headers) -> errors.ProviderError:
        detail, kind = "", ""
        try:
            payload = json.loads(body)
            error = (payload[0] if isinstance(payload, list) else payload).get("error") or {}
            detail = str(error.get("message") or "")
            reasons = [d.get("reason", "") for d in error.get("details") or () if isinstance(d, dict)]
            kind = " ".join([str(error.get("status") or "")] + reasons)
        except (ValueError, AttributeError, IndexError):
            detail = "the answer was not JSON" if body else ""
        if "API_KEY_INVALID" in kind or "API key not valid" in detail:
            status = 401  # Gemini answers 400 INVALID_ARGUMENT for a bad key
        return errors.for_status(status, provider=route.provider, name=NAME,
                                 detail=errors.scrub(detail, route.api_key), kind=kind,
                                 retry_after=errors.parse_retry_after(headers.get("retry-after")))

    async def list_models(self, route: Route) -> list[dict]:
        models, token = [], ""
        for _ in range(50):
            url = f"{route.base_url}/v1beta/models?pageSize=1000" + (f"&pageToken={token}" if token else "")
            page = (await send(route, HttpCall("GET", url, _headers(route)), stream=False)).json()
            for item in page.get("models") or ():
                if "generateContent" not in (item.get("supportedGenerationMethods") or ()):
                    continue  # embeddings, AQA and the like cannot chat
                model_id = item["name"].removeprefix("models/")
                capabilities = ["text", "vision", "pdf", "tools"] + (["reasoning"] if item.get("thinking") else [])
                models.append({"id": f"{route.provider}/{model_id}", "provider": route.provider,
                               "name": item.get("displayName") or model_id,
                               "context_length": item.get("inputTokenLimit"),
                               "pricing": {"prompt": None, "completion": None}, "capabilities": capabilities})
            token = page.get("nextPageToken") or ""
            if not token:
                break
        return models

    async def validate_key(self, route: Route) -> tuple[bool, str]:
        try:
            await send(route, HttpCall("GET", f"{route.base_url}/v1beta/models?pageSize=1", _headers(route)),
                       stream=False)
        except (errors.InvalidApiKey, errors.InsufficientCredit) as exc:
            return False, exc.message
        return True, "Google Gemini accepted the key."
