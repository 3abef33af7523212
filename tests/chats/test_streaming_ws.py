"""The conversation WebSocket on a live ASGI server: send, cancel, resume, bad frames, auth and Origin checks."""
import asyncio
import json

import pytest
import websockets
from asgiref.sync import sync_to_async
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chats.models import Generation, GenerationStatus, Message, MessageStatus
from chats.services import conversation_create
from tests.chats.streaming_client import bearer, story_text, text_of

pytestmark = pytest.mark.django_db(transaction=True)


def connect(server, conversation_id, user=None, **kwargs):
    headers = bearer(user.raw_token) if user is not None else {}
    return websockets.connect(f"{server.ws_url}/ws/conversations/{conversation_id}/", additional_headers=headers,
                              open_timeout=10, **kwargs)


async def receive_until_done(ws, *, limit: int | None = None) -> list[dict]:
    """The reply's events (the `message` frames that announce a sent message first: tests/chats/test_live_sender)."""
    events = []
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), 15))
        if event["type"] == "message":
            continue
        events.append(event)
        if event["type"] == "done" or (limit is not None and len(events) >= limit):
            return events


async def test_send_streams_the_reply_and_stores_it(live_asgi, fake_provider, alice):
    conversation = await sync_to_async(conversation_create)(owner=alice, default_model="openai/story-10-5")
    async with connect(live_asgi, conversation.pk, alice) as ws:
        await ws.send(json.dumps({"type": "send", "content": "Tell me a story"}))
        events = await receive_until_done(ws)
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "start" and text_of(events) == story_text(10)
    assert events[-1]["status"] == "complete"
    message = await Message.objects.aget(pk=events[-1]["message_id"])
    assert message.content == story_text(10) and message.status == MessageStatus.COMPLETE
    assert await Message.objects.filter(conversation=conversation, role="user", content="Tell me a story").aexists()


async def test_per_message_model_and_reasoning_kept_apart(live_asgi, fake_provider, alice):
    conversation = await sync_to_async(conversation_create)(owner=alice, default_model="openai/story-3-0")
    async with connect(live_asgi, conversation.pk, alice) as ws:
        await ws.send(json.dumps({"type": "send", "content": "think", "model": "openai/think-6-0"}))
        events = await receive_until_done(ws)
    assert events[0]["model"] == "openai/think-6-0"
    reasoning = "".join(event["reasoning"] for event in events if event["type"] == "reasoning")
    assert reasoning and "content" not in {key for event in events if event["type"] == "reasoning" for key in event}
    assert text_of(events) == story_text(6)
    message = await Message.objects.aget(pk=events[-1]["message_id"])
    assert message.reasoning == reasoning and message.content == story_text(6)


async def test_cancel_stops_the_reply_and_keeps_its_text(live_asgi, fake_provider, alice):
    conversation = await sync_to_async(conversation_create)(owner=alice, default_model="openai/story-400-20")
    async with connect(live_asgi, conversation.pk, alice) as ws:
        await ws.send(json.dumps({"type": "send", "content": "go"}))
        events = await receive_until_done(ws, limit=5)
        await ws.send(json.dumps({"type": "cancel"}))
        events += await receive_until_done(ws)
    assert events[-1]["status"] == "cancelled"
    text = text_of(events)
    assert text and story_text(400).startswith(text) and text != story_text(400)
    message = await Message.objects.aget(pk=events[-1]["message_id"])
    assert message.status == MessageStatus.CANCELLED and message.content == text


async def test_resume_on_a_new_connection_yields_exactly_the_rest(live_asgi, fake_provider, alice):
    conversation = await sync_to_async(conversation_create)(owner=alice, default_model="openai/story-40-15")
    async with connect(live_asgi, conversation.pk, alice) as ws:
        await ws.send(json.dumps({"type": "send", "content": "go"}))
        first = await receive_until_done(ws, limit=7)
    await asyncio.sleep(0.2)
    async with connect(live_asgi, conversation.pk, alice) as ws:
        await ws.send(json.dumps({"type": "resume", "generation_id": first[0]["generation_id"],
                                  "after": first[-1]["seq"]}))
        rest = await receive_until_done(ws)
    events = first + rest
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    assert text_of(events) == story_text(40) and events[-1]["status"] == "complete"


async def test_bad_frames_get_an_error_and_the_connection_stays_open(live_asgi, fake_provider, alice, mallory):
    conversation = await sync_to_async(conversation_create)(owner=alice, default_model="openai/story-3-0")
    foreign = await sync_to_async(conversation_create)(owner=mallory, default_model="openai/story-30-20")
    foreign_generation = await sync_to_async(Generation.objects.create)(
        owner=mallory, conversation=foreign, model="openai/story-3-0", status=GenerationStatus.COMPLETE)
    async with connect(live_asgi, conversation.pk, alice) as ws:
        for frame, code in [
            ("not json", "bad_frame"),
            (json.dumps([1, 2]), "bad_frame"),
            (json.dumps({"type": "dance"}), "unknown_type"),
            (json.dumps({"type": "send", "content": "x", "colour": "red"}), "unknown_field"),
            (json.dumps({"type": "send", "content": "   "}), "blank"),
            (json.dumps({"type": "send", "content": "x", "model": "nonsense"}), "invalid_model"),
            (json.dumps({"type": "resume", "generation_id": str(foreign_generation.pk), "after": 0}), "not_found"),
            (json.dumps({"type": "resume", "generation_id": "zzz", "after": -1}), "invalid"),
            (json.dumps({"type": "cancel"}), "nothing_to_cancel"),
        ]:
            await ws.send(frame)
            error = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert error["type"] == "error" and error["code"] == code, (frame, error)
        await ws.send(json.dumps({"type": "send", "content": "still here"}))
        events = await receive_until_done(ws)
    assert events[-1]["status"] == "complete"


async def test_a_second_send_while_streaming_is_refused(live_asgi, fake_provider, alice):
    conversation = await sync_to_async(conversation_create)(owner=alice, default_model="openai/story-30-20")
    async with connect(live_asgi, conversation.pk, alice) as ws:
        await ws.send(json.dumps({"type": "send", "content": "one"}))
        await receive_until_done(ws, limit=2)
        async with connect(live_asgi, conversation.pk, alice) as second:
            await second.send(json.dumps({"type": "send", "content": "two"}))
            error = json.loads(await asyncio.wait_for(second.recv(), 10))
        assert error["type"] == "error" and error["code"] == "conversation_busy"
        rest = await receive_until_done(ws)
    assert rest[-1]["status"] == "complete"


async def test_anonymous_and_foreign_connections_are_closed(live_asgi, fake_provider, alice, mallory):
    conversation = await sync_to_async(conversation_create)(owner=alice, default_model="openai/story-3-0")
    async with connect(live_asgi, conversation.pk) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd.code == 4401
    async with connect(live_asgi, conversation.pk, mallory) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd.code == 4404


async def test_a_foreign_origin_is_refused(live_asgi, fake_provider, alice, settings):
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    conversation = await sync_to_async(conversation_create)(owner=alice, default_model="openai/story-3-0")
    with pytest.raises(InvalidStatus) as refused:
        async with connect(live_asgi, conversation.pk, alice, origin="https://evil.example"):
            pass
    assert refused.value.response.status_code == 403
    # The app's own origin is fine.
    async with connect(live_asgi, conversation.pk, alice, origin=live_asgi.url) as ws:
        await ws.send(json.dumps({"type": "send", "content": "hi"}))
        events = await receive_until_done(ws)
    assert events[-1]["status"] == "complete"


async def test_session_cookie_authenticates_a_browser(live_asgi, fake_provider, alice, client):
    await sync_to_async(client.force_login)(alice)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    conversation = await sync_to_async(conversation_create)(owner=alice, default_model="openai/story-4-0")
    async with websockets.connect(f"{live_asgi.ws_url}/ws/conversations/{conversation.pk}/",
                                  additional_headers={"Cookie": cookie}, origin=live_asgi.url) as ws:
        await ws.send(json.dumps({"type": "send", "content": "hi"}))
        events = await receive_until_done(ws)
    assert text_of(events) == story_text(4)
