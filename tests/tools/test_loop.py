"""The tool loop inside a generation, end to end: a live ASGI server, the fake provider in each wire protocol, and
the real MCP fixture server on loopback (SPEC §7)."""
import asyncio
import json

import httpx
import pytest
import websockets
from asgiref.sync import sync_to_async

from accounts.services import api_token_create
from chats.models import Generation, GenerationStatus, Message
from chats.services import conversation_create
from tests.chats.streaming_client import bearer, read_events, text_of
from tools.models import McpServer
from tools.services import mcp_server_refresh

pytestmark = pytest.mark.django_db(transaction=True)

PROTOCOLS = ["openai", "anthropic", "gemini"]


@pytest.fixture
def alice(django_user_model):
    user = django_user_model.objects.create_user("alice", password="correct horse battery staple")
    _, user.raw_token = api_token_create(user=user, name="loop")
    return user


@pytest.fixture
def mallory(django_user_model):
    user = django_user_model.objects.create_user("mallory", password="correct horse battery staple")
    _, user.raw_token = api_token_create(user=user, name="loop")
    return user


@pytest.fixture
def calc(mcp_server):
    """The calculator fixture as a shared server (an admin's: its loopback address is allowed), checked once."""
    server = McpServer.objects.create(owner=None, name="calc", url=mcp_server.base + "/mcp")
    return mcp_server_refresh(server=server)


def client_for(server, user) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, headers=bearer(user.raw_token), timeout=30)


def conversation_with_tools(user, *, model: str, tools: list[str], approval: str | None = None):
    params = {"tools": tools}
    if approval:
        params["tool_approval"] = approval
    return conversation_create(owner=user, default_model=model, params=params)


async def complete(client, conversation, content: str, **body) -> list[dict]:
    async with client.stream("POST", f"/api/v1/conversations/{conversation.pk}/completions/",
                             json={"content": content, **body}) as response:
        assert response.status_code == 200, await response.aread()
        return await read_events(response)


def of_type(events: list[dict], kind: str) -> list[dict]:
    return [event for event in events if event["type"] == kind]


async def stored_reply(events: list[dict]) -> Message:
    return await Message.objects.aget(pk=events[-1]["message_id"])


def chat_requests(fake_provider) -> list[dict]:
    return [r["json"] for r in fake_provider.requests() if r["method"] == "POST" and r["json"]]


def results_sent(protocol: str, body: dict) -> list[dict]:
    """The tool results a request sends back to the model, read in its protocol's own form."""
    if protocol == "openai":
        return [{"id": m["tool_call_id"], "content": m["content"]} for m in body["messages"] if m["role"] == "tool"]
    if protocol == "anthropic":
        return [{"id": block["tool_use_id"], "content": block["content"], "is_error": block.get("is_error", False)}
                for m in body["messages"] if isinstance(m["content"], list) for block in m["content"]
                if block.get("type") == "tool_result"]
    return [{"name": part["functionResponse"]["name"], "response": part["functionResponse"]["response"]}
            for content in body["contents"] for part in content["parts"] if "functionResponse" in part]


def offered_names(protocol: str, body: dict) -> list[str]:
    if protocol == "openai":
        return [tool["function"]["name"] for tool in body["tools"]]
    if protocol == "anthropic":
        return [tool["name"] for tool in body["tools"]]
    return [d["name"] for d in body["tools"][0]["functionDeclarations"]]


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


async def approve_over_rest(client, generation_id, call_id, approve) -> httpx.Response:
    return await client.post(f"/api/v1/generations/{generation_id}/tool-approval/",
                             json={"id": call_id, "approve": approve})


@pytest.mark.parametrize("approve", [True, False])
async def test_approval_ask_over_sse_and_rest(live_asgi, fake_provider, alice, mallory, calc, approve):
    conversation = await sync_to_async(conversation_with_tools)(alice, model="openai/tool-call", tools=["calc/*"],
                                                                approval="ask")
    async with client_for(live_asgi, alice) as client:
        async with client.stream("POST", f"/api/v1/conversations/{conversation.pk}/completions/",
                                 json={"content": '{"a": 1, "b": 1}'}) as response:
            generation_id = response.headers["X-Generation-ID"]
            events = []
            while not of_type(events, "tool_approval"):
                events += await read_events(response, stop_after=1)
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


def connect(server, conversation_id, user):
    return websockets.connect(f"{server.ws_url}/ws/conversations/{conversation_id}/",
                              additional_headers=bearer(user.raw_token), open_timeout=10)


async def receive_until(ws, kind: str) -> list[dict]:
    frames = []
    while not frames or frames[-1]["type"] != kind:
        frames.append(json.loads(await asyncio.wait_for(ws.recv(), 15)))
    return frames


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
