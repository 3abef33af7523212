"""The deployed configuration: a reply's tool call waiting in approval mode `ask` on one uvicorn process is approved
or refused through another (PostgreSQL and Redis shared)."""
import json
import os

import httpx
import pytest
import websockets
from asgiref.sync import sync_to_async

from tests.chats.streaming_client import bearer, read_events, text_of
from tests.fixtures.fake_provider import fake_provider_env
from tests.tools.loop_client import conversation_with_tools, of_type, read_until, receive_until

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def two_servers(start_subprocess_server, fake_provider):
    env = {**fake_provider_env(fake_provider), "REDIS_URL": os.environ["REDIS_URL"]}
    return start_subprocess_server(env), start_subprocess_server(env)


async def test_approve_over_rest_on_another_process(two_servers, alice, calc):
    first, second = two_servers
    conversation = await sync_to_async(conversation_with_tools)(alice, model="openai/tool-call", tools=["calc/add"],
                                                                approval="ask")
    async with httpx.AsyncClient(headers=bearer(alice.raw_token), timeout=30) as client:
        async with client.stream("POST", f"{first.url}/api/v1/conversations/{conversation.pk}/completions/",
                                 json={"content": '{"a": 20, "b": 22}'}) as response:
            generation_id = response.headers["X-Generation-ID"]
            events = await read_until(response, "tool_approval")
            asked = of_type(events, "tool_approval")[0]
            answered = await client.post(f"{second.url}/api/v1/generations/{generation_id}/tool-approval/",
                                         json={"id": asked["id"], "approve": True})
            assert answered.status_code == 200 and answered.json() == {"id": asked["id"], "approve": True}
            events += await read_events(response)
    assert of_type(events, "tool_result")[0]["content"] == "42.0"
    assert text_of(events) == "Checking. Tool results: 42.0" and events[-1]["status"] == "complete"


async def test_refuse_over_the_websocket_of_another_process(two_servers, alice, calc):
    first, second = two_servers
    conversation = await sync_to_async(conversation_with_tools)(alice, model="gemini/tool-call", tools=["calc/add"],
                                                                approval="ask")
    path = f"/ws/conversations/{conversation.pk}/"
    headers = bearer(alice.raw_token)
    async with websockets.connect(first.ws_url + path, additional_headers=headers) as ws:
        await ws.send(json.dumps({"type": "send", "content": '{"a": 1, "b": 1}'}))
        events = await receive_until(ws, "tool_approval")
        async with websockets.connect(second.ws_url + path, additional_headers=headers) as other:
            await other.send(json.dumps({"type": "tool_approval", "id": events[-1]["id"], "approve": False}))
            events += await receive_until(ws, "done")
    [result] = of_type(events, "tool_result")
    assert result["is_error"] is True and "refused" in result["content"]
    assert events[-1]["status"] == "complete"
