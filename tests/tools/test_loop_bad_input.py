"""Bad input to the tool loop (issue 13): bad servers, bad model calls, foreign servers, blocked addresses. Each
ends in a clear error result or status, never a hung or failed reply."""
import json

import pytest
from asgiref.sync import sync_to_async

from chats.models import Conversation, Message
from chats.services import conversation_create
from tests.chats.streaming_client import read_events, text_of
from tests.tools.conftest import shared_server
from tests.tools.loop_client import (
    approve_over_rest,
    chat_requests,
    client_for,
    complete,
    conversation_with_tools,
    of_type,
    offered_names,
    stored_reply,
)
from tools.models import McpServer, ServerStatus

pytestmark = pytest.mark.django_db(transaction=True)

ADD = [{"name": "add", "description": "Add two numbers.",
        "input_schema": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}}}]


def listed_server(name: str, url: str, *, owner=None) -> McpServer:
    """A server as stored at its last check (connected, listing `add`), whatever it answers now."""
    return McpServer.objects.create(owner=owner, name=name, url=url, tools=ADD, status=ServerStatus.CONNECTED)


async def one_call(live_asgi, user, *, model: str = "openai/tool-call", tools: list[str], content: str):
    """Run one reply that calls the first tool; (events, the one tool_result)."""
    conversation = await sync_to_async(conversation_with_tools)(user, model=model, tools=tools)
    async with client_for(live_asgi, user) as client:
        events = await complete(client, conversation, content)
    assert events[-1]["type"] == "done" and events[-1]["status"] == "complete", events[-1]
    [result] = of_type(events, "tool_result")
    return events, result


# --- servers that misbehave ------------------------------------------------------------------------------------------


async def test_a_server_that_is_down(live_asgi, fake_provider, alice, dead_url):
    await sync_to_async(listed_server)("down", dead_url)
    events, result = await one_call(live_asgi, alice, tools=["down/add"], content='{"a": 1, "b": 2}')
    assert result["is_error"] is True and "could not be reached" in result["content"]
    assert text_of(events) == "Checking. Tool results: " + result["content"]


async def test_a_server_that_answers_too_slowly(live_asgi, fake_provider, alice, calc, settings):
    settings.PARLEY_TOOL_TIMEOUT = 1
    events, result = await one_call(live_asgi, alice, tools=["calc/slow"], content='{"seconds": 30}')
    assert result["is_error"] is True and "did not answer in time" in result["content"]


async def test_a_server_that_is_not_mcp(live_asgi, fake_provider, alice, not_mcp_server):
    await sync_to_async(listed_server)("html", not_mcp_server.base + "/mcp")
    events, result = await one_call(live_asgi, alice, tools=["html/add"], content='{"a": 1, "b": 2}')
    assert result["is_error"] is True and "text/html" in result["content"]


async def test_a_server_listing_500_tools_is_refused_whole_but_one_of_them_works(live_asgi, fake_provider, alice,
                                                                                 many_tools_server):
    await sync_to_async(shared_server)("many", many_tools_server.base + "/mcp")
    async with client_for(live_asgi, alice) as client:
        refused = await client.post("/api/v1/conversations/", json={"params": {"tools": ["many/*"]}})
    assert refused.status_code == 400 and refused.json()["code"] == "too_many_tools"
    events, result = await one_call(live_asgi, alice, tools=["many/t007"], content='{"value": 3}')
    assert result == {**result, "name": "many/t007", "content": "tool 7: 3", "is_error": False}


async def test_a_10_mb_result_is_cut(live_asgi, fake_provider, alice, calc, settings):
    events, result = await one_call(live_asgi, alice, tools=["calc/big"], content="{}")
    limit = settings.PARLEY_TOOL_RESULT_MAX_CHARS
    assert result["is_error"] is False and result["content"].startswith("x" * limit)
    assert len(result["content"]) < limit + 200 and "truncated" in result["content"]
    message = await stored_reply(events)
    assert len(json.dumps(message.metadata)) < 3 * limit + 2000


async def test_two_servers_with_the_same_tool_name(live_asgi, fake_provider, alice, calc, many_tools_server):
    await sync_to_async(shared_server)("many", many_tools_server.base + "/mcp")
    events, result = await one_call(live_asgi, alice, tools=["many/add", "calc/add"], content='{"a": 2, "b": 3}')
    assert result["name"] == "many/add" and result["content"] == "6.0"  # many's `add` multiplies
    assert offered_names("openai", chat_requests(fake_provider)[0]) == ["many__add", "calc__add"]


async def test_a_failing_tool_and_an_image_tool(live_asgi, fake_provider, alice, calc):
    _, failed = await one_call(live_asgi, alice, tools=["calc/fail"], content="{}")
    assert failed["is_error"] is True and "Error executing tool fail" in failed["content"]
    _, image = await one_call(live_asgi, alice, tools=["calc/image"], content="{}")
    assert image["is_error"] is False and image["content"] == "[image: image/png]"


# --- models that call badly ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
async def test_an_unknown_tool_and_arguments_that_are_not_json(live_asgi, fake_provider, alice, calc, protocol):
    conversation = await sync_to_async(conversation_with_tools)(alice, model=f"{protocol}/tool-bad",
                                                                tools=["calc/add"])
    async with client_for(live_asgi, alice) as client:
        events = await complete(client, conversation, "go")
    calls, results = of_type(events, "tool_call"), {r["name"]: r for r in of_type(events, "tool_result")}
    assert [call["name"] for call in calls] == ["calc/add", "no_such_tool"]
    assert results["calc/add"]["is_error"] and "not valid JSON" in results["calc/add"]["content"]
    assert results["no_such_tool"]["is_error"] and "no tool called 'no_such_tool'" in results["no_such_tool"]["content"]
    assert "calc__add" in results["no_such_tool"]["content"]  # the model is told what it may call
    assert events[-1]["status"] == "complete" and "not valid JSON" in text_of(events)


async def test_arguments_that_do_not_match_the_schema(live_asgi, fake_provider, alice, calc):
    _, result = await one_call(live_asgi, alice, model="gemini/tool-call", tools=["calc/add"],
                               content='{"a": "two", "b": 3}')
    assert result["is_error"] is True and "do not match the tool's input schema" in result["content"]
    assert "a:" in result["content"]


@pytest.mark.parametrize("protocol,none", [("openai", "none"), ("anthropic", {"type": "none"}),
                                           ("gemini", {"functionCallingConfig": {"mode": "NONE"}})])
async def test_a_model_that_calls_past_the_round_cap(live_asgi, fake_provider, alice, calc, settings, protocol,
                                                     none):
    settings.PARLEY_TOOL_MAX_ROUNDS = 2
    conversation = await sync_to_async(conversation_with_tools)(alice, model=f"{protocol}/tool-loop",
                                                                tools=["calc/add"])
    async with client_for(live_asgi, alice) as client:
        events = await complete(client, conversation, '{"a": 1, "b": 1}')
    results = of_type(events, "tool_result")
    assert [r["content"] for r in results[:2]] == ["2.0", "2.0"]
    assert len(results) == 3 and results[2]["is_error"] and results[2]["content"].startswith("Not run")
    assert events[-1]["status"] == "complete" and events[-1]["finish_reason"] == "tool_calls"
    requests = chat_requests(fake_provider)
    assert len(requests) == 3  # two rounds of calls, then one asked to answer without tools
    told = {"openai": "tool_choice", "anthropic": "tool_choice", "gemini": "toolConfig"}[protocol]
    assert told not in requests[1] and requests[2][told] == none
    message = await stored_reply(events)
    assert [call["round"] for call in message.metadata["tool_calls"]] == [1, 2, 3]


async def test_an_unanswered_approval_is_a_refusal(live_asgi, fake_provider, alice, calc, settings):
    settings.PARLEY_TOOL_APPROVAL_TIMEOUT = 0.5
    conversation = await sync_to_async(conversation_with_tools)(alice, model="openai/tool-call", tools=["calc/add"],
                                                                approval="ask")
    async with client_for(live_asgi, alice) as client:
        async with client.stream("POST", f"/api/v1/conversations/{conversation.pk}/completions/",
                                 json={"content": '{"a": 1, "b": 1}'}) as response:
            generation_id = response.headers["X-Generation-ID"]
            events = await read_events(response)
        [asked] = of_type(events, "tool_approval")
        late = await approve_over_rest(client, generation_id, asked["id"], True)
    assert late.status_code == 409 and late.json()["code"] == "no_pending_approval"
    [result] = of_type(events, "tool_result")
    assert result["is_error"] and "refused" in result["content"] and events[-1]["status"] == "complete"


# --- whose servers, which addresses ----------------------------------------------------------------------------------


async def test_another_users_server_is_unknown_everywhere(live_asgi, fake_provider, alice, mallory):
    await sync_to_async(listed_server)("theirs", "http://93.184.215.14/mcp", owner=mallory)
    conversation = await sync_to_async(conversation_create)(owner=alice, default_model="openai/tool-call")
    async with client_for(live_asgi, alice) as client:
        created = await client.post("/api/v1/conversations/", json={"params": {"tools": ["theirs/add"]}})
        patched = await client.patch(f"/api/v1/conversations/{conversation.pk}/",
                                     json={"params": {"tools": ["theirs/*"]}})
        asked = await client.post(f"/api/v1/conversations/{conversation.pk}/completions/",
                                  json={"content": "hi", "tools": ["theirs/add"]})
        # Stored params are checked again on each request (a server may have gone since).
        await Conversation.objects.filter(pk=conversation.pk).aupdate(params={"tools": ["theirs/add"]})
        stored = await client.post(f"/api/v1/conversations/{conversation.pk}/completions/", json={"content": "hi"})
    for answer in (created, patched, asked, stored):
        assert answer.status_code == 400 and answer.json()["code"] == "unknown_tool_server", answer.content
        assert "theirs" in answer.json()["detail"]
    assert not await Message.objects.filter(conversation=conversation).aexists()
    assert fake_provider.requests() == []


@pytest.mark.parametrize("params,code", [
    ({"tools": "calc/add"}, "invalid_tool"), ({"tools": ["calc"]}, "invalid_tool"),
    ({"tools": ["calc/nope"]}, "unknown_tool"), ({"tool_approval": "sometimes"}, "invalid_choice"),
])
async def test_bad_tool_params_are_400(live_asgi, alice, calc, params, code):
    async with client_for(live_asgi, alice) as client:
        answer = await client.post("/api/v1/conversations/", json={"params": params})
        good = await client.post("/api/v1/conversations/",
                                 json={"params": {"tools": ["calc/add"], "tool_approval": "ask"}})
    assert answer.status_code == 400 and answer.json()["code"] == code
    assert good.status_code == 201 and good.json()["params"] == {"tools": ["calc/add"], "tool_approval": "ask"}


async def test_a_users_server_that_resolves_to_a_blocked_address(live_asgi, fake_provider, alice, mcp_server):
    # Stored while it resolved elsewhere (or before the check existed): every call checks the address again.
    await sync_to_async(listed_server)("mine", mcp_server.base + "/mcp", owner=alice)
    _, result = await one_call(live_asgi, alice, tools=["mine/add"], content='{"a": 1, "b": 2}')
    assert result["is_error"] is True and "loopback" in result["content"]
