"""How each adapter writes history, tools and parameters (unit level), and the pooled client per loop."""
import asyncio
import json

from providers.anthropic_messages import AnthropicMessagesAdapter
from providers.base import ChatMessage, ChatRequest, Route
from providers.gemini_generate import GeminiGenerateAdapter
from providers.openai_chat import OpenAIChatAdapter
from providers.sse import SSEDecoder
from providers.transport import get_client, run_scoped

CITY = {"type": "object", "properties": {"city": {"type": "string"}}}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                           "parameters": CITY}}]
CALL = {"id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}
HISTORY = [
    ChatMessage("user", "weather in Paris?"),
    ChatMessage("assistant", "", metadata={"tool_calls": [CALL]}),
    ChatMessage("tool", "18°C", metadata={"tool_call_id": "call_1"}),
]


def route(provider, protocol, model_id="m"):
    return Route(provider=provider, model=f"{provider}/{model_id}", model_id=model_id, base_url="https://x.test",
                 api_key="key-0123456789", protocol=protocol)


def test_openai_tools_and_tool_history():
    body = OpenAIChatAdapter().build_call(route("openai", "openai_chat"),
                                          ChatRequest(messages=HISTORY, params={"tools": TOOLS})).json
    assert body["tools"] == TOOLS
    assert body["messages"][1] == {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}
    assert body["messages"][2] == {"role": "tool", "content": "18°C", "tool_call_id": "call_1"}


def test_anthropic_tools_and_tool_history():
    call = AnthropicMessagesAdapter().build_call(route("anthropic", "anthropic_messages"),
                                                 ChatRequest(messages=HISTORY, params={"tools": TOOLS}))
    body = call.json
    assert call.url == "https://x.test/v1/messages"
    assert body["tools"] == [{"name": "get_weather", "description": "Weather in a city",
                              "input_schema": TOOLS[0]["function"]["parameters"]}]
    assert body["messages"][1] == {"role": "assistant", "content": [
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}]}
    assert body["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "18°C"}]}


def test_anthropic_skips_empty_assistant_turns_and_reads_nested_metadata():
    thinking = [{"type": "thinking", "thinking": "hmm", "signature": "sig"}]
    messages = [ChatMessage("user", "a"), ChatMessage("assistant", ""), ChatMessage("user", "b"),
                ChatMessage("assistant", "answer", metadata={"provider": {"anthropic_thinking": thinking}}),
                ChatMessage("user", "c")]
    body = AnthropicMessagesAdapter().build_call(route("anthropic", "anthropic_messages"),
                                                 ChatRequest(messages=messages)).json
    assert [m["role"] for m in body["messages"]] == ["user", "user", "assistant", "user"]
    assert body["messages"][2]["content"] == thinking + [{"type": "text", "text": "answer"}]


def test_anthropic_redacted_thinking_and_tool_use_stream():
    events_bytes = b"".join(
        b"event: " + name.encode() + b"\ndata: " + json.dumps(data).encode() + b"\n\n" for name, data in [
            ("message_start", {"type": "message_start", "message": {"usage": {"input_tokens": 3, "output_tokens": 1}}}),
            ("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": {"type": "redacted_thinking", "data": "EmwKAhgB"}}),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {
                "type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}}),
            ("content_block_delta", {"type": "content_block_delta", "index": 1,
                                     "delta": {"type": "input_json_delta", "partial_json": '{"city": '}}),
            ("content_block_delta", {"type": "content_block_delta", "index": 1,
                                     "delta": {"type": "input_json_delta", "partial_json": '"Paris"}'}}),
            ("content_block_stop", {"type": "content_block_stop", "index": 1}),
            ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
                               "usage": {"output_tokens": 20}}),
            ("message_stop", {"type": "message_stop"}),
        ])
    translator = AnthropicMessagesAdapter().translator(route("anthropic", "anthropic_messages"))
    events = [e for sse in SSEDecoder().feed(events_bytes) for e in translator.feed(sse)]
    calls = [e.data for e in events if e.kind == "tool_call"]
    assert calls == [{"id": "toolu_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}]
    finish = events[-1]
    assert finish.data == {"finish_reason": "tool_calls"}
    assert finish.metadata["anthropic_thinking"] == [{"type": "redacted_thinking", "data": "EmwKAhgB"}]


def test_gemini_tools_and_tool_history():
    body = GeminiGenerateAdapter().build_call(route("gemini", "gemini_generate", "gemini-2.0-flash"),
                                              ChatRequest(messages=HISTORY, params={"tools": TOOLS})).json
    assert body["tools"] == [{"functionDeclarations": [{"name": "get_weather", "description": "Weather in a city",
                                                        "parameters": TOOLS[0]["function"]["parameters"]}]}]
    assert body["contents"][1] == {"role": "model", "parts": [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]}
    assert body["contents"][2] == {"role": "user", "parts": [
        {"functionResponse": {"name": "get_weather", "response": {"content": "18°C"}}}]}
    assert "generationConfig" not in body  # gemini-2.0 does not think: no thinkingConfig


def test_one_pooled_client_per_event_loop():
    async def twice():
        return get_client(), get_client()

    first_a, first_b = asyncio.run(twice())
    second_a, _ = asyncio.run(twice())
    assert first_a is first_b
    assert second_a is not first_a


def test_scoped_clients_are_private_and_closed():
    async def inside():
        return get_client()

    async def go():
        shared = get_client()
        scoped = await run_scoped(inside)
        return shared, scoped

    shared, scoped = asyncio.run(go())
    assert scoped is not shared and scoped.is_closed and not shared.is_closed


def _split_think(*pieces):
    from providers.openai_chat import ThinkTagSplitter

    splitter = ThinkTagSplitter()
    events = [e for piece in pieces for e in splitter.feed(piece)] + splitter.flush()
    return ("".join(e.text for e in events if e.kind == "reasoning"),
            "".join(e.text for e in events if e.kind == "content"))


def test_inline_think_tags_split_at_every_offset():
    stream = "<think>step one\nstep two</think>\n\nThe answer: 42 <think>not reasoning</think>"
    for cut in range(len(stream) + 1):
        for cut2 in range(cut, min(len(stream), cut + 12) + 1):
            assert _split_think(stream[:cut], stream[cut:cut2], stream[cut2:]) == (
                "step one\nstep two", "The answer: 42 <think>not reasoning</think>"), (cut, cut2)


def test_text_without_leading_think_tag_is_untouched():
    assert _split_think("  <thing>", " is here") == ("", "  <thing> is here")
    assert _split_think("Hello ", "<think>x</think>") == ("", "Hello <think>x</think>")
    assert _split_think("<think>cut off mid-thought") == ("cut off mid-thought", "")


def test_finished_streams_leave_their_connection_in_the_pool(fake_provider, db):
    from providers.gateway import resolve_route, stream_chat
    from tests.providers.streaming import ask

    async def two_replies(route):
        for _ in range(2):
            async for _event in stream_chat(route, ask()):
                pass
        return len(get_client()._transport._pool.connections)  # httpcore's pool: one connection, reused

    for model in ("openai/echo", "anthropic/echo", "gemini/echo"):
        assert asyncio.run(two_replies(resolve_route(model=model, user_id=None))) == 1, model
