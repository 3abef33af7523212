"""The tool loop inside a generation, end to end: a live ASGI server, the fake provider in each wire protocol, and
the real MCP fixture server on loopback (SPEC §7)."""
import json

import pytest
from asgiref.sync import sync_to_async

from chats.models import Generation, GenerationStatus
from tests.chats.streaming_client import read_events, text_of
from tests.tools.loop_client import (
    PROTOCOLS,
    approve_over_rest,
    chat_requests,
    client_for,
    complete,
    connect,
    conversation_with_tools,
    of_type,
    offered_names,
    read_until,
    receive_until,
    results_sent,
    stored_reply,
)

pytestmark = pytest.mark.django_db(transaction=True)

@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_two_round_loop_in_each_wire_protocol(live_asgi, fake_provider, alice, calc, protocol):
    conversation = await sync_to_async(conversation_with_tools)(alice, model=f"{protocol}/tool-call",
                                                                tools=["calc/add"])
    async with client_for(live_asgi, alice) as client:
        events = await complete(client, conversation, '{"a": 2, "b": 3}')
    kinds = [event["type"] for event in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and events[-1]["status"] == "complete"
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    [call] = of_type(events, "tool_call")
    [result] = of_type(events, "tool_result")
    assert call["name"] == "calc/add" and json.loads(call["arguments"]) == {"a": 2, "b": 3}
    assert result == {**result, "id": call["id"], "name": "calc/add", "content": "5.0", "is_error": False}
    assert kinds.index("tool_call") < kinds.index("tool_result")
    assert text_of(events) == "Checking. Tool results: 5.0"

    first, second = chat_requests(fake_provider)
    assert offered_names(protocol, first) == offered_names(protocol, second) == ["calc__add"]
    sent = results_sent(protocol, second)
    if protocol == "gemini":
        assert sent == [{"name": "calc__add", "response": {"content": "5.0"}}]
    else:
        assert [(item["id"], item["content"]) for item in sent] == [(call["id"], "5.0")]

    message = await stored_reply(events)
    assert message.content == "Checking. Tool results: 5.0"
    [stored_call] = message.metadata["tool_calls"]
    assert stored_call == {**stored_call, "id": call["id"], "name": "calc/add", "arguments": call["arguments"],
                           "round": 1, "offset": len("Checking. ")}
    assert message.metadata["tool_results"] == [{"id": call["id"], "name": "calc/add", "content": "5.0",
                                                 "is_error": False}]
    # Usage is the sum of both rounds.
    generation = await Generation.objects.aget(message=message)
    assert generation.usage["prompt_tokens"] > 0 and generation.usage["completion_tokens"] >= 2


@pytest.mark.parametrize("approve", [True, False])
async def test_approval_ask_over_sse_and_rest(live_asgi, fake_provider, alice, mallory, calc, approve):
    conversation = await sync_to_async(conversation_with_tools)(alice, model="openai/tool-call", tools=["calc/*"],
                                                                approval="ask")
    async with client_for(live_asgi, alice) as client:
        async with client.stream("POST", f"/api/v1/conversations/{conversation.pk}/completions/",
                                 json={"content": '{"a": 1, "b": 1}'}) as response:
            generation_id = response.headers["X-Generation-ID"]
            events = await read_until(response, "tool_approval")
            [asked] = of_type(events, "tool_approval")
            [call] = of_type(events, "tool_call")
            assert asked == {**asked, "id": call["id"], "name": "calc/add", "arguments": call["arguments"]}
            assert not of_type(events, "tool_result")  # it waits for the user

            # Nobody else can answer it, and a bad body or an unknown call is refused.
            async with client_for(live_asgi, mallory) as intruder:
                assert (await approve_over_rest(intruder, generation_id, call["id"], True)).status_code == 404
            assert (await approve_over_rest(client, generation_id, call["id"], "yes")).status_code == 400
            missing = await client.post(f"/api/v1/generations/{generation_id}/tool-approval/", json={"approve": True})
            assert missing.status_code == 400
            unknown = await approve_over_rest(client, generation_id, "call_nope", True)
            assert unknown.status_code == 409 and unknown.json()["code"] == "no_pending_approval"

            answered = await approve_over_rest(client, generation_id, call["id"], approve)
            assert answered.status_code == 200 and answered.json() == {"id": call["id"], "approve": approve}
            again = await approve_over_rest(client, generation_id, call["id"], approve)
            assert again.status_code == 409 and again.json()["code"] == "no_pending_approval"
            events += await read_events(response)
    [result] = of_type(events, "tool_result")
    assert events[-1]["status"] == "complete"
    if approve:
        assert result["content"] == "2.0" and result["is_error"] is False
        assert text_of(events).endswith("Tool results: 2.0")
    else:
        assert result["is_error"] is True and "refused" in result["content"]
        assert "refused" in text_of(events)


async def test_approval_ask_over_the_websocket(live_asgi, fake_provider, alice, calc):
    conversation = await sync_to_async(conversation_with_tools)(alice, model="anthropic/tool-call",
                                                                tools=["calc/add"], approval="ask")
    async with connect(live_asgi, conversation.pk, alice) as ws:
        await ws.send(json.dumps({"type": "send", "content": '{"a": 4, "b": 5}'}))
        events = await receive_until(ws, "tool_approval")
        asked = events[-1]
        assert asked["name"] == "calc/add" and json.loads(asked["arguments"]) == {"a": 4, "b": 5}

        await ws.send(json.dumps({"type": "tool_approval", "id": asked["id"], "approve": "yes"}))
        refused = await receive_until(ws, "error")
        assert refused[-1]["code"] == "invalid"
        await ws.send(json.dumps({"type": "tool_approval", "id": "call_nope", "approve": True}))
        refused = await receive_until(ws, "error")
        assert refused[-1]["code"] == "no_pending_approval"

        await ws.send(json.dumps({"type": "tool_approval", "id": asked["id"], "approve": True}))
        events += refused[:-1] + await receive_until(ws, "done")
    generation_events = [event for event in events if "seq" in event]
    assert [event["seq"] for event in generation_events] == list(range(1, len(generation_events) + 1))
    [result] = of_type(events, "tool_result")
    assert result["content"] == "9.0" and result["is_error"] is False
    assert events[-1]["status"] == "complete" and text_of(events) == "Checking. Tool results: 9.0"
    assert await Generation.objects.filter(status=GenerationStatus.COMPLETE).acount() == 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_parallel_calls_run_in_one_round_and_go_back_together(live_asgi, fake_provider, alice, calc,
                                                                      protocol):
    conversation = await sync_to_async(conversation_with_tools)(alice, model=f"{protocol}/tool-parallel",
                                                                tools=["calc/add"])
    async with client_for(live_asgi, alice) as client:
        events = await complete(client, conversation, '[{"a": 1, "b": 2}, {"a": 10, "b": 20}]')
    calls, results = of_type(events, "tool_call"), of_type(events, "tool_result")
    assert len(calls) == 2 and len({call["id"] for call in calls}) == 2
    assert {result["id"]: result["content"] for result in results} == {calls[0]["id"]: "3.0", calls[1]["id"]: "30.0"}
    assert events[-1]["status"] == "complete"
    assert sorted(text_of(events).removeprefix("Tool results: ").split(" | ")) == ["3.0", "30.0"]
    first, second = chat_requests(fake_provider)  # one round of calls, then the answer
    assert len(results_sent(protocol, second)) == 2
    if protocol == "anthropic":  # both results in the one user turn after the calls
        turns = [m for m in second["messages"] if isinstance(m["content"], list)
                 and any(block.get("type") == "tool_result" for block in m["content"])]
        assert len(turns) == 1 and len(turns[0]["content"]) == 2
    if protocol == "gemini":
        turns = [c for c in second["contents"] if any("functionResponse" in part for part in c["parts"])]
        assert len(turns) == 1 and len(turns[0]["parts"]) == 2
    message = await stored_reply(events)
    assert [call["round"] for call in message.metadata["tool_calls"]] == [1, 1]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_later_turns_replay_earlier_calls_and_results(live_asgi, fake_provider, alice, calc, protocol):
    conversation = await sync_to_async(conversation_with_tools)(alice, model=f"{protocol}/tool-call",
                                                                tools=["calc/add"])
    async with client_for(live_asgi, alice) as client:
        first = await complete(client, conversation, '{"a": 2, "b": 3}')
        fake_provider.clear()
        second = await complete(client, conversation, '{"a": 1, "b": 1}')
    [earlier] = of_type(first, "tool_call")
    assert text_of(second) == "Checking. Tool results: 2.0"
    replayed = chat_requests(fake_provider)[0]
    sent = results_sent(protocol, replayed)
    if protocol == "openai":
        assistant = [m for m in replayed["messages"] if m["role"] == "assistant"]
        assert assistant[0]["content"] == "Checking. " and assistant[0]["tool_calls"][0]["id"] == earlier["id"]
        assert assistant[0]["tool_calls"][0]["function"]["name"] == "calc__add"
        assert assistant[1]["content"] == "Tool results: 5.0"
        assert sent == [{"id": earlier["id"], "content": "5.0"}]
    elif protocol == "anthropic":
        assistant = [m for m in replayed["messages"] if m["role"] == "assistant"]
        blocks = assistant[0]["content"]
        assert blocks[0] == {"type": "text", "text": "Checking. "}
        assert blocks[1] == {"type": "tool_use", "id": earlier["id"], "name": "calc__add", "input": {"a": 2, "b": 3}}
        assert assistant[1]["content"] == "Tool results: 5.0"
        assert sent == [{"id": earlier["id"], "content": "5.0", "is_error": False}]
    else:
        model_turns = [c for c in replayed["contents"] if c["role"] == "model"]
        assert {"functionCall": {"name": "calc__add", "args": {"a": 2, "b": 3}}} in model_turns[0]["parts"]
        assert sent == [{"name": "calc__add", "response": {"content": "5.0"}}]


async def test_resume_in_the_middle_of_a_tool_round(live_asgi, fake_provider, alice, calc):
    conversation = await sync_to_async(conversation_with_tools)(alice, model="openai/tool-call", tools=["calc/add"],
                                                                approval="ask")
    async with client_for(live_asgi, alice) as client:
        async with client.stream("POST", f"/api/v1/conversations/{conversation.pk}/completions/",
                                 json={"content": '{"a": 6, "b": 7}'}) as response:
            generation_id = response.headers["X-Generation-ID"]
            seen = await read_until(response, "tool_approval")
        # The client went away mid-round; the call is answered, then the client comes back.
        asked = of_type(seen, "tool_approval")[0]
        assert (await approve_over_rest(client, generation_id, asked["id"], True)).status_code == 200
        async with client.stream("GET", f"/api/v1/generations/{generation_id}/stream/",
                                 headers={"Last-Event-ID": str(seen[-1]["seq"])}) as resumed:
            rest = await read_events(resumed)
    events = seen + rest
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    assert of_type(rest, "tool_result")[0]["content"] == "13.0"
    assert text_of(events) == "Checking. Tool results: 13.0" and events[-1]["status"] == "complete"


async def test_cancel_during_a_tool_call_keeps_the_text(live_asgi, fake_provider, alice, calc):
    conversation = await sync_to_async(conversation_with_tools)(alice, model="gemini/tool-call", tools=["calc/slow"])
    async with client_for(live_asgi, alice) as client:
        async with client.stream("POST", f"/api/v1/conversations/{conversation.pk}/completions/",
                                 json={"content": '{"seconds": 60}'}) as response:
            generation_id = response.headers["X-Generation-ID"]
            events = await read_until(response, "tool_call")
            cancelled = await client.post(f"/api/v1/generations/{generation_id}/cancel/")
            assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
            events += await read_events(response)
    assert events[-1]["status"] == "cancelled" and not of_type(events, "tool_result")
    message = await stored_reply(events)
    assert message.status == "cancelled" and message.content == "Checking. "
    assert message.metadata["tool_calls"][0]["name"] == "calc/slow" and message.metadata["tool_results"] == []
    assert len(chat_requests(fake_provider)) == 1  # no round after the cancel


async def test_compare_runs_the_loop_for_each_model(live_asgi, fake_provider, alice, calc):
    async with client_for(live_asgi, alice) as client:
        answer = await client.post("/api/v1/compare/", json={
            "prompt": '{"a": 2, "b": 2}', "models": ["openai/tool-call", "anthropic/tool-call", "gemini/tool-call"],
            "tools": ["calc/add"]})
        assert answer.status_code == 200, answer.text
    responses = answer.json()["responses"]
    assert [r["content"] for r in responses] == ["Checking. Tool results: 4.0"] * 3
    assert all(r["status"] == "complete" for r in responses)
    assert len(chat_requests(fake_provider)) == 6  # two rounds per model
    generations = Generation.objects.filter(group_id=answer.json()["group_id"]).select_related("message")
    async for generation in generations:
        assert generation.message.metadata["tool_results"][0]["content"] == "4.0"


async def test_continue_a_reply_cancelled_while_a_call_waited(live_asgi, fake_provider, alice, calc):
    conversation = await sync_to_async(conversation_with_tools)(alice, model="openai/tool-call", tools=["calc/add"],
                                                                approval="ask")
    async with client_for(live_asgi, alice) as client:
        async with client.stream("POST", f"/api/v1/conversations/{conversation.pk}/completions/",
                                 json={"content": '{"a": 2, "b": 3}'}) as response:
            generation_id = response.headers["X-Generation-ID"]
            events = await read_until(response, "tool_approval")
            assert (await client.post(f"/api/v1/generations/{generation_id}/cancel/")).status_code == 200
            events += await read_events(response)
        assert events[-1]["status"] == "cancelled"
        message_id = events[-1]["message_id"]
        await sync_to_async(type(conversation).objects.filter(pk=conversation.pk).update)(
            params={"tools": ["calc/add"]})  # approval back to auto
        async with client.stream("POST", f"/api/v1/messages/{message_id}/continue/") as response:
            more = await read_events(response)
    assert more[-1]["status"] == "complete" and text_of(more) == "Checking. Tool results: 5.0"
    message = await stored_reply(more)
    assert message.content == "Checking. Checking. Tool results: 5.0"
    first, second = message.metadata["tool_calls"]
    assert (first["round"], second["round"]) == (1, 2) and first["id"] != second["id"]
    assert second["offset"] == len("Checking. Checking. ")
    assert [result["id"] for result in message.metadata["tool_results"]] == [second["id"]]
