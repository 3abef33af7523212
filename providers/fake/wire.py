"""How each wire protocol (and each OpenAI-compatible vendor) frames a fake Plan: streams, errors, model lists."""
import json
import time

from providers.fake.scripts import CITATIONS, TOOL_ARGUMENT_PIECES, Plan

TOOL_NAME = "get_weather"
SIGNATURE = "ErUBCkYIARgCIkDfakeSignatureForReplay=="


def _json(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def usage_numbers(plan: Plan, prompt_tokens: int) -> dict:
    tool_tokens = 4 if plan.tool else 0
    tool_tokens += sum(max(1, len(arguments) // 4) for _name, arguments in plan.calls)
    return {"prompt": prompt_tokens, "completion": len(plan.text) + len(plan.reasoning) + tool_tokens,
            "reasoning": len(plan.reasoning), "cached": min(plan.cached, prompt_tokens)}


# --- errors before the stream ----------------------------------------------------------------------

def error_response(protocol: str, slug: str, kind: str, key: str = "") -> tuple[int, dict, bytes]:
    """(status, headers, body) of a provider's refusal, in that provider's own shape."""
    if kind == "notjson":
        return 502, {"content-type": "text/html"}, (
            b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1>"
            b"</center><hr><center>cloudflare</center></body></html>"
        )
    if protocol == "anthropic_messages":
        status, kind_name, message = {
            "badkey": (401, "authentication_error", "invalid x-api-key"),
            "nocredit": (400, "invalid_request_error",
                         "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing."),
            "ratelimit": (429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
            "ratelimit-once": (429, "rate_limit_error", "Rate limited, try again"),
            "overloaded": (529, "overloaded_error", "Overloaded"),
        }[kind]
        body = {"type": "error", "error": {"type": kind_name, "message": message}}
    elif protocol == "gemini_generate":
        status, google_status, message = {
            "badkey": (400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."),
            "nocredit": (402, "FAILED_PRECONDITION", "Billing is not enabled or the prepaid credit is used up."),
            "ratelimit": (429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
            "ratelimit-once": (429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
            "overloaded": (503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
        }[kind]
        error = {"code": status, "message": message, "status": google_status}
        if kind == "badkey":
            error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                                 "domain": "googleapis.com",
                                 "metadata": {"service": "generativelanguage.googleapis.com"}}]
        body = {"error": error}
    elif slug == "openrouter":
        status, message = {
            "badkey": (401, "No auth credentials found"),
            "nocredit": (402, "Insufficient credits. Add more using https://openrouter.ai/credits"),
            "ratelimit": (429, "Rate limit exceeded: free-models-per-min."),
            "ratelimit-once": (429, "Rate limit exceeded, retry shortly."),
            "overloaded": (503, "No instances available for the requested model."),
        }[kind]
        body = {"error": {"code": status, "message": message, "metadata": {"provider_name": "Fake"}}}
    else:
        status, message, type_, code = {
            # OpenAI quotes part of the rejected key in its message; Parley must not pass that on.
            "badkey": (401, f"Incorrect API key provided: {key[:3]}****{key[-4:]}. You can find your API key "
                            "at https://platform.openai.com/account/api-keys.", "invalid_request_error",
                       "invalid_api_key"),
            "nocredit": (402, "Insufficient Balance", "invalid_request_error", "insufficient_balance"),
            "ratelimit": (429, "Rate limit reached for requests", "requests", "rate_limit_exceeded"),
            "ratelimit-once": (429, "Rate limit reached for requests", "requests", "rate_limit_exceeded"),
            "overloaded": (503, "The engine is currently overloaded, please try again later", "server_error", None),
        }[kind]
        if slug == "openai" and kind == "nocredit":
            status, message, type_, code = (429, "You exceeded your current quota, please check your plan and "
                                            "billing details.", "insufficient_quota", "insufficient_quota")
        body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    headers = {"content-type": "application/json"}
    if kind == "ratelimit":
        headers["retry-after"] = "1"
    elif kind == "ratelimit-once":
        headers["retry-after"] = "0"
    return status, headers, _json(body)


def invalid_request(protocol: str, slug: str, message: str) -> tuple[int, dict, bytes]:
    """(status, headers, body) of a 400 for a malformed request (e.g. a bad attachment part), in each shape."""
    if protocol == "anthropic_messages":
        body = {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
    elif protocol == "gemini_generate":
        body = {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
    elif slug == "openrouter":
        body = {"error": {"code": 400, "message": message, "metadata": {"provider_name": "Fake"}}}
    else:
        body = {"error": {"message": message, "type": "invalid_request_error", "param": "messages",
                          "code": "invalid_value"}}
    return 400, {"content-type": "application/json"}, _json(body)


# --- OpenAI chat completions and its vendors ----------------------------------------------------

def openai_stream(plan: Plan, *, slug: str, model: str, include_usage: bool, prompt_tokens: int):
    """Yield bytes to write, or a float to sleep; vendor quirks by slug."""
    created = int(time.time())
    base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created, "model": model}
    if slug == "openrouter":
        base["provider"] = "Fake"

    def chunk(delta: dict | None, finish_reason=None, **extra) -> bytes:
        payload = dict(base)
        payload["choices"] = [] if delta is None else [
            {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}]
        if plan.citations and slug != "openrouter":  # Perplexity's shape, repeated on every chunk
            payload["citations"] = [c["url"] for c in CITATIONS]
            payload["search_results"] = [dict(c, date="2025-01-01") for c in CITATIONS]
        payload.update(extra)
        return b"data: " + _json(payload) + b"\n\n"

    usage = usage_numbers(plan, prompt_tokens)
    usage_body = {"prompt_tokens": usage["prompt"], "completion_tokens": usage["completion"],
                  "total_tokens": usage["prompt"] + usage["completion"],
                  "prompt_tokens_details": {"cached_tokens": usage["cached"]},
                  "completion_tokens_details": {"reasoning_tokens": usage["reasoning"]}}
    if slug == "openrouter":
        usage_body["cost"] = round(0.000001 * usage["prompt"] + 0.000002 * usage["completion"], 9)
    if slug == "deepseek":
        usage_body.update(prompt_cache_hit_tokens=0, prompt_cache_miss_tokens=usage["prompt"])
    keepalive = {"openrouter": b": OPENROUTER PROCESSING\n\n", "deepseek": b": keep-alive\n\n"}.get(slug, b"")

    if keepalive:
        yield keepalive
    yield chunk({"role": "assistant", "content": ""})
    if plan.reasoning and slug == "perplexity":
        # sonar-reasoning writes its reasoning into the content, inside a leading <think> block; the tags
        # arrive cut across chunks, as tokens do.
        inline = "<think>" + "".join(plan.reasoning) + "</think>\n\n"
        plan_reasoning, cut = [], 5
        while inline:
            plan_reasoning.append(inline[:cut])
            inline, cut = inline[cut:], cut + 2
        for piece in plan_reasoning:
            yield chunk({"content": piece})
            if plan.delay:
                yield plan.delay
    for index, piece in enumerate(plan.reasoning if slug != "perplexity" else ()):
        if slug in ("deepseek", "xai"):
            delta = {"content": None, "reasoning_content": piece}
        elif slug == "openrouter":
            detail = {"type": "reasoning.text", "text": piece, "format": "anthropic-claude-v1", "index": 0}
            if index == len(plan.reasoning) - 1:
                detail["signature"] = SIGNATURE
            delta = {"content": "", "reasoning": piece, "reasoning_details": [detail]}
        else:
            delta = {"content": "", "reasoning": piece}
        yield chunk(delta)
        if plan.delay:
            yield plan.delay
    for index, piece in enumerate(plan.text):
        if keepalive and index == 1:
            yield keepalive
        extra = {}
        if plan.citations and slug == "openrouter" and index == len(plan.text) - 1:
            delta = {"content": piece, "annotations": [
                {"type": "url_citation", "url_citation": {"url": c["url"], "title": c["title"], "content": ""}}
                for c in CITATIONS]}
        else:
            delta = {"content": piece}
        if slug == "perplexity":
            extra["usage"] = dict(usage_body, completion_tokens=index + 1)
        yield chunk(delta, **extra)
        if plan.delay:
            yield plan.delay
    if plan.tool:
        yield chunk({"tool_calls": [{"index": 0, "id": "call_fake1", "type": "function",
                                     "function": {"name": TOOL_NAME, "arguments": ""}}]})
        for piece in TOOL_ARGUMENT_PIECES:
            yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
    for index, (name, arguments) in enumerate(plan.calls):
        call_id = f"call_{plan_id(plan)}_{index + 1}"
        yield chunk({"tool_calls": [{"index": index, "id": call_id, "type": "function",
                                     "function": {"name": name, "arguments": ""}}]})
        for piece in (arguments[:len(arguments) // 2], arguments[len(arguments) // 2:]):  # arguments in pieces
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    if plan.end == "truncate":
        return
    if plan.end == "error":
        if slug == "openrouter":
            yield chunk({"content": ""}, "error", error={"code": "server_error",
                                                          "message": "Provider disconnected unexpectedly"})
        else:
            yield b"data: " + _json({"error": {"message": "The server had an error while processing your request.",
                                              "type": "server_error", "param": None, "code": None}}) + b"\n\n"
        return
    finish = "tool_calls" if plan.tool or plan.calls else "stop"
    if slug == "perplexity":
        # Perplexity ends with a chunk carrying finish_reason, usage and citations, and sends no [DONE].
        yield chunk({}, finish, usage=usage_body, object="chat.completion")
        return
    yield chunk({}, finish)
    if include_usage:
        yield chunk(None, usage=usage_body)
    yield b"data: [DONE]\n\n"


# --- Anthropic Messages -------------------------------------------------------------------------

def _event(name: str, payload: dict) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + _json(payload) + b"\n\n"


def anthropic_stream(plan: Plan, *, model: str, prompt_tokens: int):
    usage = usage_numbers(plan, prompt_tokens)
    yield _event("message_start", {"type": "message_start", "message": {
        "id": "msg_fake01", "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": None, "stop_sequence": None,
        # Anthropic counts cache reads apart from input_tokens.
        "usage": {"input_tokens": usage["prompt"] - usage["cached"], "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": usage["cached"],
                  "output_tokens": 1}}})
    index = 0
    if plan.reasoning:
        yield _event("content_block_start", {"type": "content_block_start", "index": index,
                                             "content_block": {"type": "thinking", "thinking": "", "signature": ""}})
        for piece in plan.reasoning:
            yield _event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                 "delta": {"type": "thinking_delta", "thinking": piece}})
            if plan.delay:
                yield plan.delay
        yield _event("content_block_delta", {"type": "content_block_delta", "index": index,
                                             "delta": {"type": "signature_delta", "signature": SIGNATURE}})
        yield _event("content_block_stop", {"type": "content_block_stop", "index": index})
        index += 1
    yield _event("content_block_start", {"type": "content_block_start", "index": index,
                                         "content_block": {"type": "text", "text": ""}})
    yield _event("ping", {"type": "ping"})
    for position, piece in enumerate(plan.text):
        if plan.citations and position == 1:
            for cited in CITATIONS:
                yield _event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": {
                    "type": "citations_delta", "citation": {"type": "web_search_result_location", "url": cited["url"],
                                                            "title": cited["title"], "cited_text": "…",
                                                            "encrypted_index": "Eo8B"}}})
        yield _event("content_block_delta", {"type": "content_block_delta", "index": index,
                                             "delta": {"type": "text_delta", "text": piece}})
        if plan.delay:
            yield plan.delay
    if plan.end == "truncate":
        return
    if plan.end == "error":
        yield _event("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
        return
    yield _event("content_block_stop", {"type": "content_block_stop", "index": index})
    if plan.tool:
        index += 1
        yield _event("content_block_start", {"type": "content_block_start", "index": index, "content_block": {
            "type": "tool_use", "id": "toolu_fake1", "name": TOOL_NAME, "input": {}}})
        for piece in TOOL_ARGUMENT_PIECES:
            yield _event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                 "delta": {"type": "input_json_delta", "partial_json": piece}})
        yield _event("content_block_stop", {"type": "content_block_stop", "index": index})
    for number, (name, arguments) in enumerate(plan.calls):
        index += 1
        yield _event("content_block_start", {"type": "content_block_start", "index": index, "content_block": {
            "type": "tool_use", "id": f"toolu_{plan_id(plan)}_{number + 1}", "name": name, "input": {}}})
        for piece in (arguments[:len(arguments) // 2], arguments[len(arguments) // 2:]):
            yield _event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                 "delta": {"type": "input_json_delta", "partial_json": piece}})
        yield _event("content_block_stop", {"type": "content_block_stop", "index": index})
    yield _event("message_delta", {"type": "message_delta",
                                   "delta": {"stop_reason": "tool_use" if plan.tool or plan.calls else "end_turn",
                                             "stop_sequence": None},
                                   "usage": {"output_tokens": usage["completion"]}})
    yield _event("message_stop", {"type": "message_stop"})


# --- Gemini streamGenerateContent ---------------------------------------------------------------

def gemini_stream(plan: Plan, *, model: str, prompt_tokens: int):
    usage = usage_numbers(plan, prompt_tokens)

    def chunk(parts: list, finish: str | None = None, grounding: dict | None = None) -> bytes:
        candidate: dict = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        if grounding:
            candidate["groundingMetadata"] = grounding
        metadata = {"promptTokenCount": usage["prompt"], "totalTokenCount": usage["prompt"]}
        if usage["cached"]:
            metadata["cachedContentTokenCount"] = usage["cached"]
        if finish:
            metadata.update(candidatesTokenCount=usage["completion"] - usage["reasoning"],
                            thoughtsTokenCount=usage["reasoning"],
                            totalTokenCount=usage["prompt"] + usage["completion"])
        # Gemini frames its events with CRLF line ends.
        return b"data: " + _json({"candidates": [candidate], "usageMetadata": metadata, "modelVersion": model,
                                  "responseId": "fakeResponse01"}) + b"\r\n\r\n"

    for piece in plan.reasoning:
        yield chunk([{"text": piece, "thought": True}])
        if plan.delay:
            yield plan.delay
    last = len(plan.text) - 1
    for position, piece in enumerate(plan.text):
        part = {"text": piece}
        if position == 0 and plan.reasoning:
            part["thoughtSignature"] = SIGNATURE
        is_last = position == last and plan.end == "finish" and not plan.tool and not plan.calls
        grounding = None
        if is_last and plan.citations:
            grounding = {"groundingChunks": [{"web": {"uri": c["url"], "title": c["title"]}} for c in CITATIONS]}
        yield chunk([part], "STOP" if is_last else None, grounding)
        if plan.delay:
            yield plan.delay
    if plan.end == "truncate":
        return
    if plan.end == "error":
        yield b"data: " + _json({"error": {"code": 500, "message": "An internal error has occurred.",
                                          "status": "INTERNAL"}}) + b"\r\n\r\n"
        return
    if plan.tool:
        yield chunk([{"functionCall": {"name": TOOL_NAME, "args": {"city": "Paris", "unit": "celsius"}}}], "STOP")
    if plan.calls:
        # Gemini sends arguments as an object (text that is not JSON cannot happen here) and no call ids.
        yield chunk([{"functionCall": {"name": name, "args": _object(arguments)}} for name, arguments in plan.calls],
                    "STOP")


def _object(arguments: str) -> dict:
    try:
        value = json.loads(arguments)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def plan_id(plan: Plan) -> str:
    """Call ids that differ from round to round, as a real provider's do."""
    return format(abs(hash((id(plan), time.monotonic()))) % 10**8, "08d")


# --- model lists --------------------------------------------------------------------------------

FAKE_MODELS = ("echo", "story-5-0", "think-4-0", "tools", "describe")
# What each model declares it reads, where the protocol's model list says so (OpenRouter and other
# OpenAI-compatible servers with `architecture.input_modalities`): `describe` takes images and PDFs.
INPUT_MODALITIES = {"describe": ["text", "image", "file"]}


def private_models(key: str) -> tuple[str, ...]:
    """A key named `…-finetune-<name>` also lists the fine-tune `ft-<name>`, as a real account's key does."""
    _, marker, name = key.partition("-finetune-")
    return (f"ft-{name}",) if marker and name else ()


def models_page(protocol: str, slug: str, query: dict, key: str = "") -> dict:
    if protocol == "anthropic_messages":
        after = query.get("after_id", [""])[0]
        limit = min(int(query.get("limit", ["2"])[0] or 2), 2)  # tiny pages, so clients must paginate
        ids = list(FAKE_MODELS)
        start = ids.index(after) + 1 if after in ids else 0
        page = ids[start:start + limit]
        return {"data": [{"type": "model", "id": i, "display_name": f"Fake {i}", "created_at": "2025-01-01T00:00:00Z"}
                         for i in page],
                "has_more": start + limit < len(ids), "first_id": page[0] if page else None,
                "last_id": page[-1] if page else None}
    if protocol == "gemini_generate":
        everything = [
            {"name": f"models/{i}", "version": "001", "displayName": f"Fake {i}", "inputTokenLimit": 1048576,
             "outputTokenLimit": 65536, "supportedGenerationMethods": ["generateContent", "countTokens"],
             "thinking": i.startswith("think")}
            for i in FAKE_MODELS
        ] + [{"name": "models/text-embedding-004", "version": "004", "displayName": "Text Embedding 004",
              "inputTokenLimit": 2048, "outputTokenLimit": 1, "supportedGenerationMethods": ["embedContent"]}]
        token = query.get("pageToken", ["0"])[0] or "0"
        start = int(token) if token.isdigit() else 0
        size = min(int(query.get("pageSize", ["2"])[0] or 2), 2)
        page = everything[start:start + size]
        body = {"models": page}
        if start + size < len(everything):
            body["nextPageToken"] = str(start + size)
        return body
    if slug == "openrouter":
        return {"data": [{
            "id": f"fake/{i}", "canonical_slug": f"fake/{i}", "name": f"Fake: {i}", "created": 1735689600,
            "context_length": 8192 * (n + 1),
            "architecture": {"modality": "text+image->text",
                             "input_modalities": INPUT_MODALITIES.get(i, ["text", "image"]),
                             "output_modalities": ["text"], "tokenizer": "Other"},
            "pricing": {"prompt": "0.000001", "completion": "0.000002", "request": "0", "image": "0"},
            "top_provider": {"context_length": 8192 * (n + 1), "max_completion_tokens": 4096, "is_moderated": False},
            "supported_parameters": ["max_tokens", "temperature", "tools", "reasoning", "include_reasoning"],
        } for n, i in enumerate(FAKE_MODELS)]}
    return {"object": "list", "data": [
        {"id": i, "object": "model", "created": 1735689600, "owned_by": "fake",
         **({"architecture": {"input_modalities": INPUT_MODALITIES[i]}} if i in INPUT_MODALITIES else {})}
        for i in (*FAKE_MODELS, *private_models(key))]}
