"""One contract, run against every wire-protocol adapter with byte-exact recorded streams (no network)."""
import asyncio
import json

import httpx
import pytest
import respx

from providers import errors
from providers.anthropic_messages import AnthropicMessagesAdapter
from providers.base import ChatMessage, ChatRequest, Route
from providers.events import EventKind
from providers.gemini_generate import GeminiGenerateAdapter
from providers.openai_chat import OpenAIChatAdapter
from providers.sse import SSEDecoder


def _openai_chunk(delta, finish=None, **extra) -> bytes:
    body = {"id": "chatcmpl-AbC", "object": "chat.completion.chunk", "created": 1731000000, "model": "gpt-4o-mini",
            "system_fingerprint": "fp_0ba0d124f1",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], **extra}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


class AdapterContract:
    """What every adapter must do with its protocol's bytes. Subclasses provide the recordings."""

    adapter_class: type
    route: Route
    stream: bytes              # a complete reply: reasoning "Let me think.", text "Hello, wörld!", usage, end marker
    end_marker: bytes          # the tail that makes `stream` complete; without it the stream is truncated
    error_stream: bytes        # text "Hel", then an error inside the 200 stream
    error_class: type
    http_errors: list          # (status, headers, body, error class)
    usage: dict
    finish_reason = "stop"

    @pytest.fixture(autouse=True)
    def _settings(self, settings):
        settings.PARLEY_PROVIDER_RETRY_WAIT_CAP = 0
        settings.APP_URL, settings.APP_TITLE = "https://parley.test", "Parley Test"

    def translate(self, *chunks: bytes):
        translator = self.adapter_class().translator(self.route)
        decoder, events = SSEDecoder(), []
        for chunk in chunks:
            for sse in decoder.feed(chunk):
                events.extend(translator.feed(sse))
        return events

    def test_translates_text_reasoning_usage_and_finish(self):
        events = self.translate(self.stream)
        assert "".join(e.text for e in events if e.kind is EventKind.TEXT) == "Hello, wörld!"
        assert "".join(e.text for e in events if e.kind is EventKind.REASONING) == "Let me think."
        assert [e.data for e in events if e.kind is EventKind.USAGE] == [self.usage]
        assert events[-1].kind is EventKind.FINISH and events[-1].data == {"finish_reason": self.finish_reason}
        assert [e for e in events if e.kind is EventKind.FINISH] == [events[-1]]

    def test_same_events_at_every_split(self):
        whole = self.translate(self.stream)
        for cut in range(1, len(self.stream)):
            split = self.translate(self.stream[:cut], self.stream[cut:])
            assert _merged(split) == _merged(whole), f"split at byte {cut}"

    def test_no_finish_without_end_marker(self):
        assert self.stream.endswith(self.end_marker)
        events = self.translate(self.stream[: -len(self.end_marker)])
        assert not [e for e in events if e.kind is EventKind.FINISH]

    def test_error_inside_the_stream(self):
        with pytest.raises(self.error_class) as caught:
            self.translate(self.error_stream)
        assert caught.value.message

    def run_http(self, response: httpx.Response):
        adapter = self.adapter_class()
        call = adapter.build_call(self.route, ChatRequest(messages=[ChatMessage("user", "hi")]))

        async def go():
            events = []
            with respx.mock:
                respx.route(method=call.method, url=call.url).mock(return_value=response)
                try:
                    async for event in adapter.stream(self.route, ChatRequest(messages=[ChatMessage("user", "hi")])):
                        events.append(event)
                except errors.ProviderError as exc:
                    return events, exc
            return events, None

        return asyncio.run(go())

    def test_over_http_truncated_stream_is_an_error_with_partial_text(self):
        response = httpx.Response(200, headers={"content-type": "text/event-stream"},
                                  content=self.stream[: -len(self.end_marker)])
        events, error = self.run_http(response)
        assert isinstance(error, errors.StreamTruncated)
        assert "".join(e.text for e in events if e.kind is EventKind.TEXT) == "Hello, wörld!"

    def test_over_http_complete_stream(self):
        events, error = self.run_http(httpx.Response(200, headers={"content-type": "text/event-stream"},
                                                     content=self.stream))
        assert error is None and events[-1].kind is EventKind.FINISH

    def test_over_http_a_json_error_with_status_200_is_an_error(self):
        events, error = self.run_http(httpx.Response(200, headers={"content-type": "application/json"},
                                                     content=self.http_errors[0][2]))
        assert isinstance(error, errors.ProviderError) and events == []

    def test_over_http_redirects_are_not_followed(self):
        events, error = self.run_http(httpx.Response(307, headers={"location": "http://169.254.169.254/latest"}))
        assert isinstance(error, errors.ProviderError) and error.upstream_status == 307 and events == []

    def test_http_errors_map_to_classes(self):
        for status, headers, body, error_class in self.http_errors:
            events, error = self.run_http(httpx.Response(status, headers=headers, content=body))
            assert isinstance(error, error_class), (status, body, error)
            assert events == []
            assert self.route.api_key not in error.message
            assert "sk-proj" not in error.message


def _merged(events):
    """Events with adjacent text/reasoning deltas joined: splits may cut deltas differently, never content."""
    merged = []
    for event in events:
        if merged and event.kind in (EventKind.TEXT, EventKind.REASONING) and merged[-1][0] == event.kind:
            merged[-1] = (event.kind, merged[-1][1] + event.text, None)
        else:
            merged.append((event.kind, event.text, json.dumps(event.data, sort_keys=True, default=str)))
    return merged


class TestOpenAIChatContract(AdapterContract):
    adapter_class = OpenAIChatAdapter
    route = Route(provider="deepseek", model="deepseek/deepseek-reasoner", model_id="deepseek-reasoner",
                  base_url="https://api.deepseek.test", api_key="sk-test-contract-key-0001", protocol="openai_chat")
    stream = (
        _openai_chunk({"role": "assistant", "content": None, "reasoning_content": ""})
        + b": keep-alive\n\n"
        + _openai_chunk({"content": None, "reasoning_content": "Let me "})
        + _openai_chunk({"content": None, "reasoning_content": "think."})
        + _openai_chunk({"content": "Hello, "})
        + _openai_chunk({"content": "wörld!"})
        + _openai_chunk({"content": ""}, "stop")
        + b'data: {"id":"chatcmpl-AbC","object":"chat.completion.chunk","created":1731000000,"model":"gpt-4o-mini",'
          b'"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21,'
          b'"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":5},'
          b'"prompt_cache_hit_tokens":4,"prompt_cache_miss_tokens":8}}\n\n'
        + b"data: [DONE]\n\n"
    )
    end_marker = b"data: [DONE]\n\n"
    error_stream = (_openai_chunk({"content": "Hel"})
                    + b'data: {"error":{"message":"The server had an error while processing your request.",'
                      b'"type":"server_error","param":null,"code":null}}\n\n')
    error_class = errors.UpstreamServerError
    usage = {"prompt_tokens": 12, "completion_tokens": 9, "reasoning_tokens": 5, "cached_tokens": 4, "cost": None}
    http_errors = [
        (401, {}, b'{"error":{"message":"Incorrect API key provided: sk-proj-****0001. You can find your API key at '
                  b'https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,'
                  b'"code":"invalid_api_key"}}', errors.InvalidApiKey),
        (429, {"retry-after": "20"}, b'{"error":{"message":"You exceeded your current quota, please check your plan '
                                     b'and billing details.","type":"insufficient_quota","param":null,'
                                     b'"code":"insufficient_quota"}}', errors.InsufficientCredit),
        (429, {"retry-after": "20"}, b'{"error":{"message":"Rate limit reached for gpt-4o","type":"requests",'
                                     b'"param":null,"code":"rate_limit_exceeded"}}', errors.RateLimited),
        (402, {}, b'{"error":{"message":"Insufficient Balance","type":"unknown_error","param":null,"code":'
                  b'"invalid_request_error"}}', errors.InsufficientCredit),
        (404, {}, b'{"error":{"message":"The model `gpt-9` does not exist","type":"invalid_request_error",'
                  b'"param":null,"code":"model_not_found"}}', errors.ModelNotFound),
        (502, {"content-type": "text/html"}, b"<html><body>502 Bad Gateway</body></html>",
         errors.UpstreamServerError),
        (503, {}, b'{"error":{"message":"The engine is currently overloaded","type":"server_error"}}',
         errors.Overloaded),
    ]


    def test_over_http_a_server_that_ignores_stream_still_answers(self):
        body = {"id": "chatcmpl-1", "object": "chat.completion", "model": "m", "choices": [{
            "index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": "Hello, wörld!", "reasoning_content": "Let me think."}}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 9}}
        events, error = self.run_http(httpx.Response(200, json=body))
        assert error is None
        assert [(e.kind, e.text) for e in events[:2]] == [(EventKind.REASONING, "Let me think."),
                                                         (EventKind.TEXT, "Hello, wörld!")]
        assert events[2].data["completion_tokens"] == 9
        assert events[-1].kind is EventKind.FINISH


class TestOpenRouterReasoningDetailsContract(TestOpenAIChatContract):
    route = Route(provider="openrouter", model="openrouter/anthropic/claude-sonnet-4.5",
                  model_id="anthropic/claude-sonnet-4.5", base_url="https://openrouter.test/api/v1",
                  api_key="sk-or-v1-contract-0002", protocol="openai_chat")
    stream = (
        b": OPENROUTER PROCESSING\n\n"
        + _openai_chunk({"role": "assistant", "content": "", "reasoning": "Let me ",
                         "reasoning_details": [{"type": "reasoning.text", "text": "Let me ",
                                                "format": "anthropic-claude-v1", "index": 0}]}, provider="Anthropic")
        + _openai_chunk({"content": "", "reasoning": "think.",
                         "reasoning_details": [{"type": "reasoning.text", "text": "think.", "signature": "sig==",
                                                "format": "anthropic-claude-v1", "index": 0}]}, provider="Anthropic")
        + b": OPENROUTER PROCESSING\n\n"
        + _openai_chunk({"content": "Hello, wörld!"}, provider="Anthropic")
        + _openai_chunk({"content": ""}, "stop", provider="Anthropic")
        + b'data: {"id":"gen-1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":12,'
          b'"completion_tokens":9,"total_tokens":21,"cost":0.000123,"completion_tokens_details":'
          b'{"reasoning_tokens":5},"prompt_tokens_details":{"cached_tokens":0}}}\n\n'
        + b"data: [DONE]\n\n"
    )
    error_stream = (_openai_chunk({"content": "Hel"})
                    + b'data: {"id":"gen-1","object":"chat.completion.chunk","created":1,"model":"x","provider":"P",'
                      b'"error":{"code":"server_error","message":"Provider disconnected"},"choices":[{"index":0,'
                      b'"delta":{"content":""},"finish_reason":"error"}]}\n\n')
    usage = {"prompt_tokens": 12, "completion_tokens": 9, "reasoning_tokens": 5, "cached_tokens": 0}

    def test_translates_text_reasoning_usage_and_finish(self):
        from decimal import Decimal

        self.usage = dict(self.usage, cost=Decimal("0.000123"))
        super().test_translates_text_reasoning_usage_and_finish()
        finish = self.translate(self.stream)[-1]
        assert finish.metadata["reasoning_details"] == [
            {"type": "reasoning.text", "format": "anthropic-claude-v1", "index": 0, "text": "Let me think.",
             "signature": "sig=="}]

    def test_same_events_at_every_split(self):
        self.usage = dict(self.usage, cost=None)
        super().test_same_events_at_every_split()


class TestAnthropicContract(AdapterContract):
    adapter_class = AnthropicMessagesAdapter
    route = Route(provider="anthropic", model="anthropic/claude-sonnet-4-5", model_id="claude-sonnet-4-5",
                  base_url="https://api.anthropic.test", api_key="sk-ant-contract-0003", protocol="anthropic_messages")
    stream = (
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_01","type":"message",'
        b'"role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,'
        b'"usage":{"input_tokens":8,"cache_creation_input_tokens":0,"cache_read_input_tokens":4,"output_tokens":1}}}\n\n'
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":'
        b'{"type":"thinking","thinking":"","signature":""}}\n\n'
        b'event: ping\ndata: {"type": "ping"}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":'
        b'{"type":"thinking_delta","thinking":"Let me "}}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":'
        b'{"type":"thinking_delta","thinking":"think."}}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":'
        b'{"type":"signature_delta","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"}}\n\n'
        b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
        b'event: content_block_start\ndata: {"type":"content_block_start","index":1,"content_block":'
        b'{"type":"text","text":""}}\n\n'
        + 'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hello, wörld!"}}\n\n'.encode()  # noqa: E501
        + b'event: content_block_stop\ndata: {"type":"content_block_stop","index":1}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},'
        b'"usage":{"output_tokens":9}}\n\n'
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    end_marker = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    error_stream = (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":'
        b'{"type":"text_delta","text":"Hel"}}\n\n'
        b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n'
    )
    error_class = errors.Overloaded
    usage = {"prompt_tokens": 12, "completion_tokens": 9, "reasoning_tokens": 0, "cached_tokens": 4, "cost": None}
    http_errors = [
        (401, {}, b'{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}',
         errors.InvalidApiKey),
        (400, {}, b'{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too '
                  b'low to access the Anthropic API."}}', errors.InsufficientCredit),
        (529, {}, b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', errors.Overloaded),
        (429, {"retry-after": "30"}, b'{"type":"error","error":{"type":"rate_limit_error","message":"Number of '
                                     b'request tokens has exceeded your per-minute rate limit"}}', errors.RateLimited),
        (404, {}, b'{"type":"error","error":{"type":"not_found_error","message":"model: claude-9"}}',
         errors.ModelNotFound),
        (500, {}, b'{"type":"error","error":{"type":"api_error","message":"Internal server error"}}',
         errors.UpstreamServerError),
    ]

    def test_thinking_signature_is_kept_for_replay(self):
        finish = self.translate(self.stream)[-1]
        assert finish.metadata == {"anthropic_thinking": [{
            "type": "thinking", "thinking": "Let me think.",
            "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"}]}


class TestGeminiContract(AdapterContract):
    adapter_class = GeminiGenerateAdapter
    route = Route(provider="gemini", model="gemini/gemini-2.5-flash", model_id="gemini-2.5-flash",
                  base_url="https://generativelanguage.googleapis.test", api_key="AIzaContractKey0004",
                  protocol="gemini_generate")
    stream = (
        b'data: {"candidates": [{"content": {"parts": [{"text": "Let me think.","thought": true}],"role": "model"},'
        b'"index": 0}],"usageMetadata": {"promptTokenCount": 12,"totalTokenCount": 12,"thoughtsTokenCount": 5},'
        b'"modelVersion": "gemini-2.5-flash","responseId": "r1"}\r\n\r\n'
        + 'data: {"candidates": [{"content": {"parts": [{"text": "Hello, wörld!","thoughtSignature": "CiQB"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 12,"totalTokenCount": 12},"modelVersion": "gemini-2.5-flash","responseId": "r1"}\r\n\r\n'.encode()  # noqa: E501
        + b'data: {"candidates": [{"content": {"parts": [{"text": ""}],"role": "model"},"finishReason": "STOP",'
          b'"index": 0}],"usageMetadata": {"promptTokenCount": 12,"candidatesTokenCount": 4,"totalTokenCount": 21,'
          b'"thoughtsTokenCount": 5,"cachedContentTokenCount": 2},"modelVersion": "gemini-2.5-flash",'
          b'"responseId": "r1"}\r\n\r\n'
    )
    end_marker = stream[stream.rindex(b"data: "):]
    error_stream = (
        b'data: {"candidates": [{"content": {"parts": [{"text": "Hel"}],"role": "model"},"index": 0}]}\r\n\r\n'
        b'data: {"error": {"code": 503, "message": "The model is overloaded. Please try again later.", '
        b'"status": "UNAVAILABLE"}}\r\n\r\n'
    )
    error_class = errors.Overloaded
    usage = {"prompt_tokens": 12, "completion_tokens": 9, "reasoning_tokens": 5, "cached_tokens": 2, "cost": None}
    http_errors = [
        (400, {}, b'{"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": '
                  b'"INVALID_ARGUMENT", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": '
                  b'"API_KEY_INVALID", "domain": "googleapis.com"}]}}', errors.InvalidApiKey),
        (429, {}, b'{"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", '
                  b'"status": "RESOURCE_EXHAUSTED"}}', errors.RateLimited),
        (503, {}, b'{"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}',
         errors.Overloaded),
        (404, {}, b'{"error": {"code": 404, "message": "models/gemini-9 is not found", "status": "NOT_FOUND"}}',
         errors.ModelNotFound),
        (400, {}, b'{"error": {"code": 400, "message": "Invalid JSON payload received.", "status": '
                  b'"INVALID_ARGUMENT"}}', errors.BadRequest),
    ]

    def test_thought_signature_parts_are_kept_for_replay(self):
        finish = self.translate(self.stream)[-1]
        assert finish.metadata == {"gemini_parts": [{"text": "Hello, wörld!", "thoughtSignature": "CiQB"}]}
