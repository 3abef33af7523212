"""Replies over SSE on a live ASGI server against the fake provider: stream, resume, walk away, cancel, fail, 409."""
import asyncio

import httpx
import pytest
from asgiref.sync import sync_to_async

from chats.generations.state import RUNS
from chats.models import Generation, GenerationStatus, Message, MessageStatus
from chats.services import conversation_create, message_create
from tests.chats.streaming_client import bearer, read_events, story_text, text_of

pytestmark = pytest.mark.django_db(transaction=True)


def client_for(server, user=None, **kwargs) -> httpx.AsyncClient:
    headers = bearer(user.raw_token) if user is not None else {}
    return httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30, **kwargs)


def new_conversation(user, *, model: str, content: str | None = "Tell me a story") -> "object":
    conversation = conversation_create(owner=user, default_model=model)
    if content is not None:
        message_create(conversation=conversation, content=content)
    return conversation


async def wait_for_status(generation_id, statuses, seconds: float = 15.0) -> Generation:
    for _ in range(int(seconds / 0.05)):
        generation = await Generation.objects.select_related("message").aget(pk=generation_id)
        if generation.status in statuses:
            return generation
        await asyncio.sleep(0.05)
    raise AssertionError(f"generation {generation_id} stayed {generation.status}")


def assert_gapless(events: list[dict], *, first: int = 1) -> None:
    seqs = [event["seq"] for event in events]
    assert seqs == list(range(first, first + len(events))), seqs
    assert all(event["_id"] == str(event["seq"]) and event["_event"] == event["type"] for event in events)


async def test_seed_flow_streams_the_reply_and_stores_it(live_asgi, fake_provider, alice):
    async with client_for(live_asgi, alice) as client:
        conversation = (await client.post("/api/v1/conversations/", json={"system_prompt": "Be brief."})).json()
        created = await client.post(f"/api/v1/conversations/{conversation['id']}/messages/",
                                    json={"message": "Tell me a story"})
        assert created.status_code == 201
        async with client.stream("GET", f"/api/v1/conversations/{conversation['id']}/stream/",
                                 params={"model": "openai/story-12-5"}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache"
            assert response.headers["x-accel-buffering"] == "no"
            events = await read_events(response)

    assert_gapless(events)
    assert events[0]["type"] == "start" and events[0]["model"] == "openai/story-12-5"
    assert text_of(events) == story_text(12)
    assert [event["type"] for event in events[-2:]] == ["usage", "done"]
    done = events[-1]
    assert done["status"] == "complete" and done["finish_reason"] == "stop" and done["done"] is True
    assert done["latency_ms"] >= done["ttft_ms"] >= 0

    message = await Message.objects.aget(pk=done["message_id"])
    assert message.status == MessageStatus.COMPLETE and message.content == story_text(12)
    assert message.role == "assistant" and message.model == "openai/story-12-5"
    assert message.usage["completion_tokens"] > 0 and message.ttft_ms is not None
    generation = await Generation.objects.aget(pk=events[0]["generation_id"])
    assert generation.status == GenerationStatus.COMPLETE and generation.last_seq == done["seq"]
    # The provider saw the system prompt and the history.
    sent = fake_provider.requests()[-1]["json"]
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["messages"][-1]["content"] == "Tell me a story"


async def test_completions_stores_the_user_message_and_the_reply(live_asgi, fake_provider, alice):
    conversation = await sync_to_async(new_conversation)(alice, model="openai/echo", content=None)
    async with client_for(live_asgi, alice) as client:
        async with client.stream("POST", f"/api/v1/conversations/{conversation.pk}/completions/",
                                 json={"content": "ping pong"}) as response:
            assert response.status_code == 200
            events = await read_events(response)
        history = (await client.get(f"/api/v1/conversations/{conversation.pk}/messages/")).json()
    assert text_of(events) == "You said: ping pong"
    rows = history["results"] if isinstance(history, dict) else history
    assert [(row["role"], row["content"]) for row in rows][-2:] == [
        ("user", "ping pong"), ("assistant", "You said: ping pong")]


async def test_history_sends_partial_answers_but_not_failed_empty_ones(live_asgi, fake_provider, alice):
    conversation = await sync_to_async(new_conversation)(alice, model="openai/fail-after-0", content="first")
    async with client_for(live_asgi, alice) as client:
        async with client.stream("GET", f"/api/v1/conversations/{conversation.pk}/stream/") as response:
            failed = await read_events(response)
        assert failed[-1]["status"] == "failed"
        async with client.stream("POST", f"/api/v1/conversations/{conversation.pk}/completions/",
                                 json={"content": "second", "model": "openai/story-3-0"}) as response:
            await read_events(response)
    sent = fake_provider.requests()[-1]["json"]["messages"]
    assert [(m["role"], m["content"]) for m in sent] == [("user", "first"), ("user", "second")]


async def test_resume_after_a_dropped_connection_yields_exactly_the_full_text(live_asgi, fake_provider, alice):
    conversation = await sync_to_async(new_conversation)(alice, model="openai/story-40-15")
    async with client_for(live_asgi, alice) as client:
        async with client.stream("GET", f"/api/v1/conversations/{conversation.pk}/stream/") as response:
            first = await read_events(response, stop_after=8)
        generation_id = first[0]["generation_id"]
        # Dropped mid-reply; more events arrive meanwhile.
        await asyncio.sleep(0.2)
        async with client.stream("GET", f"/api/v1/generations/{generation_id}/stream/",
                                 headers={"Last-Event-ID": str(first[-1]["seq"])}) as response:
            rest = await read_events(response)
        # A second resume from the middle with ?after= replays from the persisted log.
        async with client.stream("GET", f"/api/v1/generations/{generation_id}/stream/",
                                 params={"after": 3}) as response:
            replay = await read_events(response)
    assert_gapless(first + rest)
    assert text_of(first + rest) == story_text(40)
    assert rest[-1]["type"] == "done" and rest[-1]["status"] == "complete"
    assert_gapless(replay, first=4)
    assert replay == (first + rest)[3:]


async def test_an_event_source_reconnecting_to_the_conversation_stream_resumes(live_asgi, fake_provider, alice):
    conversation = await sync_to_async(new_conversation)(alice, model="openai/story-20-10")
    url = f"/api/v1/conversations/{conversation.pk}/stream/"
    async with client_for(live_asgi, alice) as client:
        async with client.stream("GET", url) as response:
            first = await read_events(response, stop_after=5)
        async with client.stream("GET", url, headers={"Last-Event-ID": "5"}) as response:
            rest = await read_events(response)
    assert_gapless(first + rest)
    assert text_of(first + rest) == story_text(20)
    assert await Generation.objects.filter(conversation=conversation).acount() == 1


async def test_a_walked_away_reply_completes_and_is_stored(live_asgi, fake_provider, alice):
    conversation = await sync_to_async(new_conversation)(alice, model="openai/story-25-10")
    async with client_for(live_asgi, alice) as client:
        async with client.stream("GET", f"/api/v1/conversations/{conversation.pk}/stream/") as response:
            first = await read_events(response, stop_after=2)
    generation_id = first[0]["generation_id"]
    # The server notices the disconnect: the run loses its subscriber but keeps going.
    for _ in range(100):
        run = RUNS.get(generation_id)
        if run is None or not run.subscribers:
            break
        await asyncio.sleep(0.02)
    run = RUNS.get(generation_id)
    assert run is None or not run.subscribers
    generation = await wait_for_status(generation_id, {GenerationStatus.COMPLETE})
    assert generation.message.content == story_text(25)
    assert generation.message.status == MessageStatus.COMPLETE


async def test_cancel_keeps_the_partial_text_and_closes_the_upstream_call(live_asgi, fake_provider, alice):
    conversation = await sync_to_async(new_conversation)(alice, model="openai/story-500-20")
    async with client_for(live_asgi, alice) as client:
        async with client.stream("GET", f"/api/v1/conversations/{conversation.pk}/stream/") as response:
            events = await read_events(response, stop_after=6)
            generation_id = events[0]["generation_id"]
            # While it streams, the stored text catches up within about a second (a crash loses little).
            stored = ""
            for _ in range(100):
                stored = (await Message.objects.aget(pk=events[0]["message_id"])).content
                if stored:
                    break
                await asyncio.sleep(0.05)
            assert stored and story_text(500).startswith(stored)
            cancelled = await client.post(f"/api/v1/generations/{generation_id}/cancel/")
            events += await read_events(response)
    assert cancelled.status_code == 200
    body = cancelled.json()
    assert body["status"] == "cancelled"
    assert events[-1]["type"] == "done" and events[-1]["status"] == "cancelled"
    assert_gapless(events)
    text = text_of(events)
    assert text and story_text(500).startswith(text) and text != story_text(500)
    message = await Message.objects.aget(pk=events[-1]["message_id"])
    assert message.status == MessageStatus.CANCELLED and message.content == text
    assert body["content"] == text
    for _ in range(100):
        if fake_provider.requests()[-1]["disconnected"]:
            break
        await asyncio.sleep(0.02)
    assert fake_provider.requests()[-1]["disconnected"], "the upstream call was not closed"


async def test_provider_failure_mid_stream_keeps_the_partial_text(live_asgi, fake_provider, alice):
    conversation = await sync_to_async(new_conversation)(alice, model="openai/fail-after-5")
    async with client_for(live_asgi, alice) as client:
        async with client.stream("GET", f"/api/v1/conversations/{conversation.pk}/stream/") as response:
            events = await read_events(response)
    assert text_of(events) == story_text(5)
    error = next(event for event in events if event["type"] == "error")
    assert error["code"] and error["message"] and "retryable" in error
    assert events[-1]["status"] == "failed"
    message = await Message.objects.aget(pk=events[-1]["message_id"])
    assert message.status == MessageStatus.FAILED and message.content == story_text(5)
    assert message.error_code == error["code"] and message.error


async def test_a_truncated_stream_is_a_failure_not_a_success(live_asgi, fake_provider, alice):
    conversation = await sync_to_async(new_conversation)(alice, model="openai/truncate-after-4")
    async with client_for(live_asgi, alice) as client:
        async with client.stream("GET", f"/api/v1/conversations/{conversation.pk}/stream/") as response:
            events = await read_events(response)
    assert events[-1]["status"] == "failed"
    assert any(event["type"] == "error" and event["code"] == "stream_truncated" for event in events)
    message = await Message.objects.aget(pk=events[-1]["message_id"])
    assert message.status == MessageStatus.FAILED and message.content == story_text(4)


async def test_a_second_send_while_a_reply_streams_is_409(live_asgi, fake_provider, alice):
    conversation = await sync_to_async(new_conversation)(alice, model="openai/story-30-20")
    url = f"/api/v1/conversations/{conversation.pk}/completions/"
    async with client_for(live_asgi, alice) as client:
        async with client.stream("GET", f"/api/v1/conversations/{conversation.pk}/stream/") as response:
            await read_events(response, stop_after=2)
            busy = await client.post(url, json={"content": "and another"})
            assert busy.status_code == 409 and busy.json()["code"] == "conversation_busy"
            rest = await read_events(response)
        assert rest[-1]["status"] == "complete"
        async with client.stream("POST", url, json={"content": "now it is free"}) as response:
            assert response.status_code == 200
            after = await read_events(response)
    assert after[-1]["status"] == "complete"
    # The refused send stored nothing.
    contents = [m async for m in Message.objects.filter(conversation=conversation).values_list("content", flat=True)]
    assert "and another" not in contents and "now it is free" in contents


async def test_concurrent_sends_start_exactly_one_reply(live_asgi, fake_provider, alice):
    conversation = await sync_to_async(new_conversation)(alice, model="openai/story-10-20", content=None)
    url = f"/api/v1/conversations/{conversation.pk}/completions/"

    async def send(client, n):
        async with client.stream("POST", url, json={"content": f"hello {n}"}) as response:
            if response.status_code == 200:
                await read_events(response)
            return response.status_code

    async with client_for(live_asgi, alice) as client:
        statuses = await asyncio.gather(*(send(client, n) for n in range(5)))
    assert sorted(statuses) == [200, 409, 409, 409, 409]


async def test_a_burst_of_replies_in_many_conversations_all_stream_and_are_stored(live_asgi, fake_provider, alice):
    # Started together, their rows are written together: each reply must still be whole and its own.
    conversations = [await sync_to_async(new_conversation)(alice, model="openai/story-6-5", content=None)
                     for _ in range(12)]

    async def send(client, conversation, n):
        async with client.stream("POST", f"/api/v1/conversations/{conversation.pk}/completions/",
                                 json={"content": f"hello {n}"}) as response:
            assert response.status_code == 200
            return response.headers["X-Generation-ID"], await read_events(response)

    async with client_for(live_asgi, alice) as client:
        results = await asyncio.gather(*(send(client, c, n) for n, c in enumerate(conversations)))
        for (generation_id, events), conversation in zip(results, conversations, strict=True):
            assert_gapless(events)
            assert text_of(events) == story_text(6) and events[-1]["status"] == "complete"
            generation = await wait_for_status(generation_id, {GenerationStatus.COMPLETE})
            assert generation.conversation_id == conversation.pk and generation.message.content == story_text(6)
            # Each conversation is free for its next message.
            async with client.stream("POST", f"/api/v1/conversations/{conversation.pk}/completions/",
                                     json={"content": "again"}) as again:
                assert again.status_code == 200
                await read_events(again)
    users = await sync_to_async(list)(Message.objects.filter(conversation__owner=alice, role="user")
                                      .values_list("content", flat=True))
    assert sorted(users) == sorted([f"hello {n}" for n in range(12)] + ["again"] * 12)


async def test_another_user_cannot_read_resume_or_cancel_a_generation(live_asgi, fake_provider, alice, mallory):
    conversation = await sync_to_async(new_conversation)(alice, model="openai/story-30-20")
    async with client_for(live_asgi, alice) as client:
        async with client.stream("GET", f"/api/v1/conversations/{conversation.pk}/stream/") as response:
            events = await read_events(response, stop_after=1)
    generation_id = events[0]["generation_id"]
    async with client_for(live_asgi, mallory) as intruder:
        assert (await intruder.get(f"/api/v1/generations/{generation_id}/")).status_code == 404
        resumed = await intruder.get(f"/api/v1/generations/{generation_id}/stream/", params={"after": 0})
        assert resumed.status_code == 404 and resumed.json()["code"] == "not_found"
        assert (await intruder.post(f"/api/v1/generations/{generation_id}/cancel/")).status_code == 404
        assert (await intruder.get(f"/api/v1/conversations/{conversation.pk}/stream/")).status_code == 404
    generation = await wait_for_status(generation_id, {GenerationStatus.COMPLETE})
    assert generation.message.content == story_text(30)
    async with client_for(live_asgi, alice) as client:
        state = (await client.get(f"/api/v1/generations/{generation_id}/")).json()
    assert state["status"] == "complete" and state["content"] == story_text(30)


async def test_errors_before_the_stream_are_json(live_asgi, fake_provider, alice):
    conversation = await sync_to_async(new_conversation)(alice, model="openai/story-3-0")
    empty = await sync_to_async(new_conversation)(alice, model="openai/story-3-0", content=None)
    async with client_for(live_asgi, alice) as client:
        bad = await client.get(f"/api/v1/conversations/{conversation.pk}/stream/", params={"model": "nonsense"})
        assert bad.status_code == 400 and bad.json()["code"] == "invalid_model"
        unknown = await client.get(f"/api/v1/conversations/{conversation.pk}/stream/",
                                   params={"model": "nosuch/model"})
        assert unknown.status_code == 400 and unknown.json()["code"] == "unknown_provider"
        nothing = await client.get(f"/api/v1/conversations/{empty.pk}/stream/")
        assert nothing.status_code == 400 and nothing.json()["code"] == "no_user_message"
        missing = await client.get("/api/v1/conversations/00000000-0000-0000-0000-000000000000/stream/")
        assert missing.status_code == 404
        unknown_field = await client.post(f"/api/v1/conversations/{conversation.pk}/completions/",
                                          json={"content": "x", "temperature": 1})
        assert unknown_field.status_code == 400 and unknown_field.json()["code"] == "unknown_field"
        blank = await client.post(f"/api/v1/conversations/{conversation.pk}/completions/", json={"content": " "})
        assert blank.status_code == 400
        bad_after = await client.get("/api/v1/generations/00000000-0000-0000-0000-000000000000/stream/",
                                     params={"after": "x"})
        assert bad_after.status_code == 404
    async with client_for(live_asgi) as anonymous:
        refused = await anonymous.get(f"/api/v1/conversations/{conversation.pk}/stream/")
        assert refused.status_code == 401 and refused.json()["code"] == "not_authenticated"
    assert await Generation.objects.acount() == 0


async def test_session_auth_needs_csrf_for_unsafe_methods(live_asgi, fake_provider, alice):
    conversation = await sync_to_async(new_conversation)(alice, model="openai/story-3-0")
    async with client_for(live_asgi) as browser:
        page = await browser.get("/login/")
        token = browser.cookies.get("csrftoken")
        login = await browser.post("/login/", data={"username": "alice", "password": "correct horse battery staple",
                                                    "csrfmiddlewaretoken": token or ""},
                                   headers={"Referer": f"{live_asgi.url}/login/"})
        assert page.status_code == 200 and login.status_code in (200, 302)
        assert browser.cookies.get("sessionid")
        url = f"/api/v1/conversations/{conversation.pk}/completions/"
        refused = await browser.post(url, json={"content": "hi"})
        assert refused.status_code == 403
        async with browser.stream("POST", url, json={"content": "hi"},
                                  headers={"X-CSRFToken": browser.cookies.get("csrftoken"),
                                           "Referer": f"{live_asgi.url}/"}) as response:
            assert response.status_code == 200
            events = await read_events(response)
    assert events[-1]["status"] == "complete"


async def test_stateless_chat_streams_without_storing(live_asgi, fake_provider, alice):
    async with client_for(live_asgi, alice) as client:
        async with client.stream("POST", "/api/v1/chat/stream/", json={
            "model": "openai/echo",
            "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hello there"}],
            "params": {"temperature": 0.5},
        }) as response:
            assert response.status_code == 200
            events = await read_events(response)
        invalid = await client.post("/api/v1/chat/stream/", json={"model": "openai/echo", "messages": []})
    assert_gapless(events)
    assert text_of(events) == "You said: hello there"
    assert events[-1]["type"] == "done" and events[-1]["status"] == "complete"
    assert invalid.status_code == 400
    sent = fake_provider.requests()[-1]["json"]
    assert sent["messages"][0] == {"role": "system", "content": "sys"} and sent["temperature"] == 0.5
    assert await Message.objects.acount() == 0 and await Generation.objects.acount() == 0


async def test_silence_is_filled_with_pings(live_asgi, fake_provider, alice, settings):
    settings.PARLEY_SSE_PING_SECONDS = 0.1
    conversation = await sync_to_async(new_conversation)(alice, model="openai/slow-first-2000")
    async with client_for(live_asgi, alice) as client:
        async with client.stream("GET", f"/api/v1/conversations/{conversation.pk}/stream/") as response:
            raw = (await response.aread()).decode()
    assert ": ping\n\n" in raw
    assert "event: done" in raw


async def test_deleting_the_conversation_mid_reply_stops_it_and_nothing_wedges(live_asgi, fake_provider, alice):
    doomed = await sync_to_async(new_conversation)(alice, model="openai/story-500-20")
    other = await sync_to_async(new_conversation)(alice, model="openai/story-30-10")
    async with client_for(live_asgi, alice) as client:
        async with client.stream("GET", f"/api/v1/conversations/{doomed.pk}/stream/") as response:
            await read_events(response, stop_after=3)
            assert (await client.delete(f"/api/v1/conversations/{doomed.pk}/")).status_code == 204
            rest = await read_events(response)
        async with client.stream("GET", f"/api/v1/conversations/{other.pk}/stream/") as response:
            events = await read_events(response)
    assert rest[-1]["type"] == "done" and rest[-1]["status"] == "cancelled"
    assert events[-1]["status"] == "complete" and text_of(events) == story_text(30)
    for _ in range(100):
        doomed_call = next(r for r in fake_provider.requests() if r["json"]["model"] == "story-500-20")
        if doomed_call["disconnected"]:
            break
        await asyncio.sleep(0.02)
    assert doomed_call["disconnected"], "the upstream call of the deleted conversation was not closed"
