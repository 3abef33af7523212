"""The /v1 gateway driven by the official openai SDK: text, usage, reasoning and tool calls in every protocol."""
import json
import time

import pytest

from openai_api.models import GatewayCall

PROTOCOLS = ["openai", "anthropic", "gemini"]
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
                   "required": ["city"]}}}


def collect(stream) -> tuple[str, list]:
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks


@pytest.mark.parametrize("provider", PROTOCOLS)
def test_streamed_text_arrives_as_chunks_ending_with_a_finish_reason(gateway, provider):
    stream = gateway.client().chat.completions.create(
        model=f"{provider}/echo", messages=[{"role": "user", "content": "hello there"}], stream=True)
    text, chunks = collect(stream)
    assert text == "You said: hello there"
    assert chunks[0].object == "chat.completion.chunk"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert {c.model for c in chunks} == {f"{provider}/echo"}
    assert len({c.id for c in chunks}) == 1


@pytest.mark.parametrize("provider", PROTOCOLS)
def test_whole_completion_has_the_answer_and_usage(gateway, provider):
    completion = gateway.client().chat.completions.create(
        model=f"{provider}/echo", messages=[{"role": "system", "content": "Be brief."},
                                            {"role": "user", "content": "ping"}])
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == "You said: ping"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens > 0
    assert completion.usage.completion_tokens > 0
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    row = GatewayCall.objects.get()
    assert (row.owner_id, row.token_id, row.model, row.status) == (
        gateway.user.pk, gateway.token.pk, f"{provider}/echo", "complete")
    assert (row.prompt_tokens, row.completion_tokens) == (completion.usage.prompt_tokens,
                                                          completion.usage.completion_tokens)
    assert row.latency_ms is not None and not row.stream


@pytest.mark.parametrize("provider", PROTOCOLS)
def test_stream_usage_comes_last_when_asked_for(gateway, provider):
    stream = gateway.client().chat.completions.create(
        model=f"{provider}/story-4-0", messages=[{"role": "user", "content": "tell me"}], stream=True,
        stream_options={"include_usage": True})
    text, chunks = collect(stream)
    assert text == "w1 w2 w3 w4 "
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens >= 4
    assert all(c.usage is None for c in chunks[:-1])
    row = GatewayCall.objects.get()
    assert row.stream and row.status == "complete" and row.completion_tokens == chunks[-1].usage.completion_tokens


def test_no_usage_chunk_unless_asked(gateway):
    _, chunks = collect(gateway.client().chat.completions.create(
        model="openai/story-3-0", messages=[{"role": "user", "content": "x"}], stream=True))
    assert all(c.choices for c in chunks)


@pytest.mark.parametrize("provider", ["deepseek", "anthropic", "gemini"])
def test_reasoning_streams_as_reasoning_content(gateway, provider):
    _, chunks = collect(gateway.client().chat.completions.create(
        model=f"{provider}/think-4-0", messages=[{"role": "user", "content": "think"}], stream=True))
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert reasoning == "t1 t2 "
    assert text == "w1 w2 w3 w4 "
    whole = gateway.client().chat.completions.create(
        model=f"{provider}/think-4-0", messages=[{"role": "user", "content": "think"}])
    assert whole.choices[0].message.reasoning_content == "t1 t2 "
    assert whole.choices[0].message.content == "w1 w2 w3 w4 "


@pytest.mark.parametrize("provider", PROTOCOLS)
@pytest.mark.parametrize("stream", [True, False])
def test_tool_call_round_trip(gateway, fake_provider, provider, stream):
    client = gateway.client()
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    model = f"{provider}/weather"
    if stream:
        _, chunks = collect(client.chat.completions.create(model=model, messages=messages, tools=[WEATHER_TOOL],
                                                           stream=True))
        deltas = [call for c in chunks if c.choices for call in c.choices[0].delta.tool_calls or ()]
        assert [d.index for d in deltas] == [0]
        call = deltas[0]
        finish = chunks[-1].choices[0].finish_reason
    else:
        completion = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER_TOOL])
        call = completion.choices[0].message.tool_calls[0]
        finish = completion.choices[0].finish_reason
    assert finish == "tool_calls"
    assert call.type == "function" and call.function.name == "get_weather" and call.id
    assert json.loads(call.function.arguments) == {"city": "Paris", "unit": "celsius"}

    messages += [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call.id, "type": "function",
             "function": {"name": call.function.name, "arguments": call.function.arguments}}]},
        {"role": "tool", "tool_call_id": call.id, "content": "18 degrees and sunny"},
    ]
    answer = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER_TOOL])
    assert answer.choices[0].message.content == "The tool said: 18 degrees and sunny"
    assert answer.choices[0].finish_reason == "stop"
    sent = fake_provider.requests()[-1]["json"]
    if provider == "openai":
        assert sent["messages"][-1] == {"role": "tool", "content": "18 degrees and sunny", "tool_call_id": call.id}
        assert sent["messages"][-2]["tool_calls"][0]["function"]["name"] == "get_weather"
    elif provider == "anthropic":
        assert sent["messages"][-1]["content"][0] == {"type": "tool_result", "tool_use_id": call.id,
                                                      "content": "18 degrees and sunny"}
        assert sent["messages"][-2]["content"][-1]["type"] == "tool_use"
    else:
        assert sent["contents"][-1]["parts"][0]["functionResponse"] == {
            "name": "get_weather", "response": {"content": "18 degrees and sunny"}}
        assert sent["contents"][-2]["parts"][-1]["functionCall"]["name"] == "get_weather"


def test_parameters_are_translated_for_each_protocol(gateway, fake_provider):
    client = gateway.client()
    common = {"messages": [{"role": "user", "content": "hi"}], "temperature": 0.3, "top_p": 0.9,
              "max_completion_tokens": 77, "stop": ["END"], "tools": [WEATHER_TOOL], "tool_choice": "required",
              "response_format": {"type": "json_schema", "json_schema": {
                  "name": "answer", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}}}
    for provider in PROTOCOLS:
        client.chat.completions.create(model=f"{provider}/echo", **common)
    openai_body, anthropic_body, gemini_body = (r["json"] for r in fake_provider.requests())
    assert openai_body["temperature"] == 0.3 and openai_body["top_p"] == 0.9
    assert openai_body["stop"] == ["END"] and openai_body["tool_choice"] == "required"
    assert openai_body["response_format"]["json_schema"]["name"] == "answer"
    assert 77 in (openai_body.get("max_tokens"), openai_body.get("max_completion_tokens"))

    assert anthropic_body["max_tokens"] == 77 and anthropic_body["temperature"] == 0.3
    assert anthropic_body["stop_sequences"] == ["END"]
    assert anthropic_body["tool_choice"] == {"type": "any"}
    assert anthropic_body["tools"][0]["name"] == "get_weather"
    assert '"a"' in anthropic_body["system"] and "JSON" in anthropic_body["system"]

    config = gemini_body["generationConfig"]
    assert (config["temperature"], config["topP"], config["maxOutputTokens"]) == (0.3, 0.9, 77)
    assert config["stopSequences"] == ["END"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"]["properties"] == {"a": {"type": "string"}}
    assert gemini_body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}


def test_named_tool_choice_and_serial_calls_in_anthropic_and_gemini(gateway, fake_provider):
    client = gateway.client()
    choice = {"type": "function", "function": {"name": "get_weather"}}
    for provider in ("anthropic", "gemini"):
        client.chat.completions.create(model=f"{provider}/echo", messages=[{"role": "user", "content": "hi"}],
                                       tools=[WEATHER_TOOL], tool_choice=choice, parallel_tool_calls=False)
    anthropic_body, gemini_body = (r["json"] for r in fake_provider.requests())
    assert anthropic_body["tool_choice"] == {"type": "tool", "name": "get_weather",
                                             "disable_parallel_tool_use": True}
    assert gemini_body["toolConfig"]["functionCallingConfig"] == {"mode": "ANY",
                                                                  "allowedFunctionNames": ["get_weather"]}


def test_system_and_text_parts_reach_the_provider(gateway, fake_provider):
    gateway.client().chat.completions.create(model="anthropic/echo", messages=[
        {"role": "developer", "content": [{"type": "text", "text": "Speak French."}]},
        {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]}])
    body = fake_provider.requests()[-1]["json"]
    assert body["system"] == "Speak French."
    assert body["messages"] == [{"role": "user", "content": "one\ntwo"}]


def test_a_client_that_leaves_mid_stream_ends_the_upstream_call_and_it_is_recorded(gateway, fake_provider):
    stream = gateway.client().chat.completions.create(
        model="openai/story-200-20", messages=[{"role": "user", "content": "long"}], stream=True)
    received = []
    for chunk in stream:
        received.append(chunk.choices[0].delta.content or "")
        if len(received) == 3:
            break
    stream.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        upstream = fake_provider.requests()[-1]
        row = GatewayCall.objects.first()
        if upstream.get("completed_at") and row is not None:
            break
        time.sleep(0.05)
    assert upstream["disconnected"], "the upstream call went on after the client left"
    assert row.status == "cancelled" and row.stream
