"""SPEC §8 on real sockets: a message sent over the conversation WebSocket reaches every open socket of that
conversation, the sender's too, as `message` frames (the user message, then the reply) followed by the reply's
events, so a client needs one code path whoever sent it."""
import asyncio
import json

import pytest
from asgiref.sync import sync_to_async

from chats.services import conversation_create
from tests.chats.streaming_client import story_text, text_of
from tests.chats.test_streaming_ws import connect

pytestmark = pytest.mark.django_db(transaction=True)


async def receive_until_done(ws) -> list[dict]:
    """Every frame, until the reply's `done`."""
    frames = []
    async with asyncio.timeout(15):
        while not frames or frames[-1]["type"] != "done":
            frames.append(json.loads(await ws.recv()))
    return frames


def shape(frames: list[dict]) -> list[tuple]:
    """What a client acts on: each frame's type, with the message's role and id, or the event's seq."""
    return [(f["type"], f["message"]["role"], f["message"]["id"]) if f["type"] == "message" else (f["type"], f["seq"])
            for f in frames]


async def test_the_sender_gets_the_message_frames_every_other_socket_gets_then_its_reply(live_asgi, fake_provider,
                                                                                       alice):
    conversation = await sync_to_async(conversation_create)(owner=alice, default_model="openai/story-6-5")
    async with connect(live_asgi, conversation.pk, alice) as tab, connect(live_asgi, conversation.pk, alice) as sender:
        # A frame is handled once the socket's connect (which joins the conversation's group) is over.
        await tab.send(json.dumps({"type": "hello"}))
        assert json.loads(await tab.recv())["code"] == "unknown_type"
        await sender.send(json.dumps({"type": "send", "content": "Tell me a story"}))
        mine, theirs = await asyncio.gather(receive_until_done(sender), receive_until_done(tab))

    question, reply = (f["message"] for f in mine[:2])
    assert [f["type"] for f in mine[:3]] == ["message", "message", "start"]
    assert (question["role"], question["content"]) == ("user", "Tell me a story")
    assert (reply["role"], reply["status"], reply["parent_id"]) == ("assistant", "streaming", question["id"])
    assert mine[2]["message_id"] == reply["id"]
    # Each message once, the events numbered from 1 without a gap, and the same frames as the other tab's.
    assert [f for f in mine if f["type"] == "message"] == mine[:2]
    assert [f["seq"] for f in mine[2:]] == list(range(1, len(mine) - 1))
    assert text_of(mine[2:]) == story_text(6) and mine[-1]["status"] == "complete"
    assert shape(mine) == shape(theirs)


async def test_each_send_announces_its_own_messages_only(live_asgi, fake_provider, alice):
    conversation = await sync_to_async(conversation_create)(owner=alice, default_model="openai/echo")
    async with connect(live_asgi, conversation.pk, alice) as sender:
        await sender.send(json.dumps({"type": "send", "content": "first"}))
        first = await receive_until_done(sender)
        await sender.send(json.dumps({"type": "send", "content": "second"}))
        second = await receive_until_done(sender)
    assert [(f["message"]["role"], f["message"]["content"]) for f in first if f["type"] == "message"] == [
        ("user", "first"), ("assistant", "")]
    assert [(f["message"]["role"], f["message"]["content"]) for f in second if f["type"] == "message"] == [
        ("user", "second"), ("assistant", "")]
    assert second[1]["message"]["parent_id"] == second[0]["message"]["id"]
    assert second[0]["message"]["parent_id"] == first[1]["message"]["id"]
