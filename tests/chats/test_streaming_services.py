"""The deployed configuration: two uvicorn processes sharing PostgreSQL and Redis; a reply started on one is
resumed, followed and cancelled through the other."""
import asyncio
import json
import os

import httpx
import pytest
import websockets
from asgiref.sync import sync_to_async

from chats.models import Message, MessageStatus
from chats.services import conversation_create, message_create
from tests.chats.streaming_client import bearer, read_events, story_text, text_of
from tests.fixtures.fake_provider import fake_provider_env

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def two_servers(start_subprocess_server, fake_provider):
    env = {**fake_provider_env(fake_provider), "REDIS_URL": os.environ["REDIS_URL"]}
    return start_subprocess_server(env), start_subprocess_server(env)


def conversation_with_prompt(user, model: str):
    conversation = conversation_create(owner=user, default_model=model)
    message_create(conversation=conversation, content="Tell me a story")
    return conversation


async def test_resume_and_follow_on_another_process(two_servers, alice):
    first, second = two_servers
    conversation = await sync_to_async(conversation_with_prompt)(alice, "openai/story-60-20")
    async with httpx.AsyncClient(headers=bearer(alice.raw_token), timeout=30) as client:
        async with client.stream("GET", f"{first.url}/api/v1/conversations/{conversation.pk}/stream/") as response:
            head = await read_events(response, stop_after=10)
        generation_id = head[0]["generation_id"]
        resume_url = f"{second.url}/api/v1/generations/{generation_id}/stream/"

        async def follow(after: int):
            async with client.stream("GET", resume_url, headers={"Last-Event-ID": str(after)}) as response:
                assert response.status_code == 200
                return await read_events(response)

        # Several followers on the other process at once: from the start, from where the first one left, later.
        from_start, rest, late = await asyncio.gather(follow(0), follow(head[-1]["seq"]), follow(30))
    whole = head + rest
    assert [event["seq"] for event in whole] == list(range(1, len(whole) + 1))
    assert text_of(whole) == story_text(60) and whole[-1]["status"] == "complete"
    assert [event["seq"] for event in from_start] == [event["seq"] for event in whole]
    assert text_of(from_start) == story_text(60)
    assert [event["seq"] for event in late] == list(range(31, whole[-1]["seq"] + 1))
    message = await Message.objects.aget(pk=whole[-1]["message_id"])
    assert message.status == MessageStatus.COMPLETE and message.content == story_text(60)


async def next_event(ws) -> dict:
    """The next generation event (past the `message` frames that announce a sent message, SPEC §8)."""
    while (frame := json.loads(await asyncio.wait_for(ws.recv(), 15)))["type"] == "message":
        pass
    return frame


async def test_websocket_resume_and_cancel_across_processes(two_servers, alice):
    first, second = two_servers
    conversation = await sync_to_async(conversation_create)(owner=alice, default_model="openai/story-400-20")
    headers = bearer(alice.raw_token)
    path = f"/ws/conversations/{conversation.pk}/"
    async with websockets.connect(first.url.replace("http", "ws") + path, additional_headers=headers) as ws:
        await ws.send(json.dumps({"type": "send", "content": "go"}))
        head = [await next_event(ws) for _ in range(5)]
    async with websockets.connect(second.url.replace("http", "ws") + path, additional_headers=headers) as ws:
        await ws.send(json.dumps({"type": "resume", "generation_id": head[0]["generation_id"],
                                  "after": head[-1]["seq"]}))
        rest = [json.loads(await asyncio.wait_for(ws.recv(), 15)) for _ in range(5)]
        # Cancel through the process that does not run it.
        await ws.send(json.dumps({"type": "cancel"}))
        while rest[-1]["type"] != "done":
            rest.append(json.loads(await asyncio.wait_for(ws.recv(), 15)))
    whole = head + rest
    assert [event["seq"] for event in whole] == list(range(1, len(whole) + 1))
    assert whole[-1]["status"] == "cancelled"
    text = text_of(whole)
    assert text and story_text(400).startswith(text) and text != story_text(400)
    message = await Message.objects.aget(pk=whole[-1]["message_id"])
    assert message.status == MessageStatus.CANCELLED and message.content == text
