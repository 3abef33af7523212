"""Server lifecycle: shutdown stores running replies as interrupted; start-up and the command repair crash leftovers."""
import asyncio
from datetime import timedelta
from io import StringIO

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.utils import timezone

from accounts.services import api_token_create
from chats.generations import ConversationBusy, generation_start
from chats.models import Generation, GenerationSlice, GenerationStatus, Message, MessageStatus
from chats.services import conversation_create, message_create
from tests.chats.streaming_client import bearer, read_events, story_text, text_of
from tests.fixtures.live_server import ThreadedAsgiServer

pytestmark = pytest.mark.django_db(transaction=True)


def leftover(user, *, text: str, heartbeat_age: timedelta) -> Generation:
    """What a crashed server leaves: a running generation whose event log has `text`, and a streaming message
    whose stored text is behind it (the text is rewritten once a second, the log every slice)."""
    conversation = conversation_create(owner=user, default_model="openai/story-3-0")
    prompt = message_create(conversation=conversation, content="hello")
    message = Message.objects.create(conversation=conversation, role="assistant", content=text[:3],
                                     status=MessageStatus.STREAMING, reply_to=prompt, model="openai/story-3-0")
    generation = Generation.objects.create(
        owner=user, conversation=conversation, message=message, model="openai/story-3-0",
        status=GenerationStatus.RUNNING, last_seq=2, heartbeat_at=timezone.now() - heartbeat_age,
    )
    GenerationSlice.objects.create(generation=generation, first_seq=1, last_seq=2, events=[
        {"type": "start", "seq": 1, "generation_id": str(generation.pk), "message_id": str(message.pk),
         "model": "openai/story-3-0"},
        {"type": "content", "seq": 2, "content": text},
    ])
    type(conversation).objects.filter(pk=conversation.pk).update(active_stream=generation.pk)
    return generation


async def test_shutdown_stores_running_replies_as_interrupted(fake_provider, user, transactional_db):
    _, raw = await sync_to_async(api_token_create)(user=user, name="t")
    conversation = await sync_to_async(conversation_create)(owner=user, default_model="openai/story-500-20")
    await sync_to_async(message_create)(conversation=conversation, content="go")
    server = await asyncio.to_thread(ThreadedAsgiServer(graceful_shutdown_seconds=0.5).start)
    stopping = None
    try:
        async with httpx.AsyncClient(base_url=server.url, headers=bearer(raw), timeout=30) as client:
            async with client.stream("GET", f"/api/v1/conversations/{conversation.pk}/stream/") as response:
                events = await read_events(response, stop_after=6)
                # The server stops while the reply streams: open connections are cut, then its lifespan shutdown runs.
                stopping = asyncio.create_task(asyncio.to_thread(server.stop))
                with pytest.raises(httpx.RemoteProtocolError):
                    events += await read_events(response)
    finally:
        await (stopping or asyncio.to_thread(server.stop))
    generation = await Generation.objects.select_related("message").aget(pk=events[0]["generation_id"])
    assert generation.status == GenerationStatus.INTERRUPTED
    message = generation.message
    assert message.status == MessageStatus.INTERRUPTED
    assert message.content and story_text(500).startswith(message.content)
    assert text_of(events) and message.content.startswith(text_of(events)) and message.content != story_text(500)
    assert message.error_code == "interrupted"
    # The log ends with `done` so a client resuming later learns how it ended.
    slices = [s async for s in GenerationSlice.objects.filter(generation=generation).order_by("first_seq")]
    assert slices[-1].events[-1]["type"] == "done" and slices[-1].events[-1]["status"] == "interrupted"


async def test_startup_repairs_what_a_crash_left_streaming(fake_provider, user, transactional_db):
    # Stale enough for the deployed configuration too, where other live processes may still be running theirs.
    generation = await sync_to_async(leftover)(user, text="w1 w2 ", heartbeat_age=timedelta(minutes=5))
    server = await asyncio.to_thread(ThreadedAsgiServer().start)
    try:
        _, raw = await sync_to_async(api_token_create)(user=user, name="t")
        async with httpx.AsyncClient(base_url=server.url, headers=bearer(raw), timeout=30) as client:
            state = (await client.get(f"/api/v1/generations/{generation.pk}/")).json()
            async with client.stream("GET", f"/api/v1/generations/{generation.pk}/stream/") as response:
                events = await read_events(response)
            # The conversation is free again.
            async with client.stream("POST", f"/api/v1/conversations/{generation.conversation_id}/completions/",
                                     json={"content": "again"}) as response:
                assert response.status_code == 200
                again = await read_events(response)
    finally:
        await asyncio.to_thread(server.stop)
    assert state["status"] == "interrupted" and state["content"] == "w1 w2 "
    assert [event["type"] for event in events] == ["start", "content", "error", "done"]
    assert events[-1]["status"] == "interrupted"
    assert again[-1]["status"] == "complete"
    message = await Message.objects.aget(pk=generation.message_id)
    assert message.status == MessageStatus.INTERRUPTED and message.content == "w1 w2 "


def test_repair_command_honours_heartbeats(user):
    fresh = leftover(user, text="alive ", heartbeat_age=timedelta(seconds=1))
    stale = leftover(user, text="dead ", heartbeat_age=timedelta(minutes=5))
    out = StringIO()
    call_command("repair_generations", "--stale-after", "60", stdout=out)
    assert "Repaired 1" in out.getvalue()
    fresh.refresh_from_db()
    stale.refresh_from_db()
    assert fresh.status == GenerationStatus.RUNNING and stale.status == GenerationStatus.INTERRUPTED
    call_command("repair_generations", stdout=StringIO())
    fresh.refresh_from_db()
    assert fresh.status == GenerationStatus.INTERRUPTED
    assert Message.objects.get(pk=fresh.message_id).content == "alive "


def test_a_running_generation_holds_its_conversation_until_repaired(user, fake_provider):
    generation = leftover(user, text="w1 ", heartbeat_age=timedelta(seconds=1))
    conversation = generation.conversation
    with pytest.raises(ConversationBusy):
        generation_start(user=user, conversation=conversation, reply_to=generation.message.reply_to)
    call_command("repair_generations", stdout=StringIO())
    started = generation_start(user=user, conversation=conversation, reply_to=generation.message.reply_to,
                               model="openai/story-2-0")
    for _ in range(200):
        started.refresh_from_db()
        if started.status != GenerationStatus.RUNNING:
            break
        import time

        time.sleep(0.02)
    assert started.status == GenerationStatus.COMPLETE
    assert Message.objects.get(pk=started.message_id).content == story_text(2)
