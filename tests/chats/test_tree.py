"""The conversation tree over the API (SPEC §8): branches, edit, regenerate, continue, delete, select, live sockets."""
import asyncio
import importlib
import json

import httpx
import pytest
import websockets
from asgiref.sync import sync_to_async
from django.apps import apps

from chats.models import Generation, GenerationStatus, Message, MessageStatus
from chats.services import conversation_create, message_create
from tests.chats.streaming_client import bearer, read_events, story_text, text_of

pytestmark = pytest.mark.django_db(transaction=True)


def client_for(server, user) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, headers=bearer(user.raw_token), timeout=30)


async def _sse(client, method, path, body=None) -> list[dict]:
    async with client.stream(method, path, json=body) as response:
        assert response.status_code == 200, await response.aread()
        return await read_events(response)


async def _branch(client, conversation_id, *, tree=False) -> list[dict]:
    query = "?tree=1&page_size=200" if tree else "?page_size=200"
    response = await client.get(f"/api/v1/conversations/{conversation_id}/messages/{query}")
    assert response.status_code == 200
    return response.json()["results"]


def _contents(rows) -> list[tuple[str, str]]:
    return [(row["role"], row["content"]) for row in rows]


async def _conversation(alice, model="openai/echo"):
    return await sync_to_async(conversation_create)(owner=alice, default_model=model)


async def test_edit_makes_a_new_branch_and_the_reply_sees_only_its_history(live_asgi, fake_provider, alice):
    conversation = await _conversation(alice)
    base = f"/api/v1/conversations/{conversation.pk}"
    async with client_for(live_asgi, alice) as client:
        await _sse(client, "POST", f"{base}/completions/", {"content": "one"})
        await _sse(client, "POST", f"{base}/completions/", {"content": "two"})
        before = await _branch(client, conversation.pk)
        two = before[2]
        events = await _sse(client, "POST", f"{base}/completions/", {"content": "two, edited",
                                                                    "parent_id": two["parent_id"]})
        after = await _branch(client, conversation.pk)
        whole = await _branch(client, conversation.pk, tree=True)
    assert text_of(events) == "You said: two, edited"
    sent = fake_provider.requests()[-1]["json"]["messages"]
    assert [(m["role"], m["content"]) for m in sent] == [
        ("user", "one"), ("assistant", "You said: one"), ("user", "two, edited")]
    assert _contents(after) == [("user", "one"), ("assistant", "You said: one"), ("user", "two, edited"),
                                ("assistant", "You said: two, edited")]
    edited = after[2]
    assert edited["parent_id"] == two["parent_id"] == after[1]["id"]
    assert (edited["sibling_index"], edited["sibling_count"]) == (1, 2)
    assert len(whole) == 6 and {row["content"] for row in whole} >= {"two", "You said: two"}
    assert after[0]["parent_id"] is None and after[3]["parent_id"] == edited["id"] == after[3]["reply_to"]


async def test_selecting_the_older_version_brings_back_its_branch(live_asgi, fake_provider, alice):
    conversation = await _conversation(alice)
    base = f"/api/v1/conversations/{conversation.pk}"
    async with client_for(live_asgi, alice) as client:
        await _sse(client, "POST", f"{base}/completions/", {"content": "first"})
        first = (await _branch(client, conversation.pk))[0]
        await _sse(client, "POST", f"{base}/completions/", {"content": "first again", "parent_id": None})
        assert _contents(await _branch(client, conversation.pk))[0] == ("user", "first again")
        response = await client.post(f"/api/v1/messages/{first['id']}/select/")
        assert response.status_code == 200
        assert _contents(await _branch(client, conversation.pk)) == [("user", "first"),
                                                                     ("assistant", "You said: first")]


async def test_regenerate_an_older_reply_with_another_model(live_asgi, fake_provider, alice):
    conversation = await _conversation(alice)
    base = f"/api/v1/conversations/{conversation.pk}"
    async with client_for(live_asgi, alice) as client:
        await _sse(client, "POST", f"{base}/completions/", {"content": "older question"})
        await _sse(client, "POST", f"{base}/completions/", {"content": "latest question"})
        old_reply = (await _branch(client, conversation.pk))[1]
        events = await _sse(client, "POST", f"/api/v1/messages/{old_reply['id']}/regenerate/",
                            {"model": "openai/story-3-0"})
        branch = await _branch(client, conversation.pk)
    assert events[0]["model"] == "openai/story-3-0" and text_of(events) == story_text(3)
    sent = fake_provider.requests()[-1]["json"]["messages"]
    assert [(m["role"], m["content"]) for m in sent] == [("user", "older question")]
    assert _contents(branch) == [("user", "older question"), ("assistant", story_text(3))]
    assert branch[1]["model"] == "openai/story-3-0" and branch[1]["id"] == events[-1]["message_id"]
    assert (branch[1]["sibling_index"], branch[1]["sibling_count"]) == (1, 2)


async def test_regenerate_defaults_to_the_original_model_and_refuses_bad_targets(live_asgi, fake_provider, alice,
                                                                                 mallory):
    conversation = await _conversation(alice, model="openai/story-3-0")
    base = f"/api/v1/conversations/{conversation.pk}"
    async with client_for(live_asgi, alice) as client:
        await _sse(client, "POST", f"{base}/completions/", {"content": "hi", "model": "openai/echo"})
        question, reply = await _branch(client, conversation.pk)
        events = await _sse(client, "POST", f"/api/v1/messages/{reply['id']}/regenerate/")
        assert events[0]["model"] == "openai/echo"
        response = await client.post(f"/api/v1/messages/{question['id']}/regenerate/", json={})
        assert (response.status_code, response.json()["code"]) == (400, "not_an_answer")
        response = await client.post(f"/api/v1/messages/{reply['id']}/regenerate/", json={"model": "nonsense"})
        assert (response.status_code, response.json()["code"]) == (400, "invalid_model")
        response = await client.post(f"/api/v1/messages/{reply['id']}/regenerate/", json={"colour": "red"})
        assert (response.status_code, response.json()["code"]) == (400, "unknown_field")
        response = await client.post("/api/v1/messages/not-a-uuid/regenerate/", json={})
        assert (response.status_code, response.json()["code"]) == (404, "not_found")
    async with client_for(live_asgi, mallory) as client:
        response = await client.post(f"/api/v1/messages/{reply['id']}/regenerate/", json={})
        assert (response.status_code, response.json()["code"]) == (404, "not_found")


async def test_regenerate_while_a_reply_streams_is_409(live_asgi, fake_provider, alice):
    conversation = await _conversation(alice, model="openai/story-300-20")
    base = f"/api/v1/conversations/{conversation.pk}"
    async with client_for(live_asgi, alice) as client:
        async with client.stream("POST", f"{base}/completions/", json={"content": "long"}) as response:
            first = await read_events(response, stop_after=2)
            reply_id = first[0]["message_id"]
            answer = await client.post(f"/api/v1/messages/{reply_id}/regenerate/", json={})
            assert (answer.status_code, answer.json()["code"]) == (409, "conversation_busy")
            deleted = await client.delete(f"/api/v1/messages/{reply_id}/")
            assert (deleted.status_code, deleted.json()["code"]) == (409, "conversation_busy")
            await client.post(f"/api/v1/generations/{first[0]['generation_id']}/cancel/")


async def test_continue_goes_on_from_the_stopped_text_under_the_same_message(live_asgi, fake_provider, alice):
    conversation = await _conversation(alice, model="openai/story-3-0")

    def stopped_reply():
        question = message_create(conversation=conversation, content="tell me")
        return Message.objects.create(conversation=conversation, role="assistant", reply_to=question,
                                      content="half a story ", status=MessageStatus.CANCELLED,
                                      finish_reason="cancelled", model="openai/story-3-0")

    reply = await sync_to_async(stopped_reply)()
    async with client_for(live_asgi, alice) as client:
        events = await _sse(client, "POST", f"/api/v1/messages/{reply.pk}/continue/")
        branch = await _branch(client, conversation.pk)
        again = await client.post(f"/api/v1/messages/{reply.pk}/continue/")
        question = await client.post(f"/api/v1/messages/{branch[0]['id']}/continue/")
    assert events[0]["message_id"] == str(reply.pk) == events[-1]["message_id"]
    assert text_of(events) == story_text(3) and events[-1]["status"] == "complete"
    sent = fake_provider.requests()[-1]["json"]["messages"]
    assert [(m["role"], m["content"]) for m in sent] == [("user", "tell me"), ("assistant", "half a story ")]
    assert len(branch) == 2 and branch[1]["id"] == str(reply.pk)
    assert branch[1]["content"] == "half a story " + story_text(3) and branch[1]["status"] == "complete"
    assert (again.status_code, again.json()["code"]) == (409, "not_continuable")
    assert (question.status_code, question.json()["code"]) == (400, "not_an_answer")


async def test_delete_removes_the_message_and_its_branch(live_asgi, fake_provider, alice, mallory):
    conversation = await _conversation(alice)
    base = f"/api/v1/conversations/{conversation.pk}"
    async with client_for(live_asgi, alice) as client:
        await _sse(client, "POST", f"{base}/completions/", {"content": "keep"})
        await _sse(client, "POST", f"{base}/completions/", {"content": "drop"})
        rows = await _branch(client, conversation.pk)
        async with client_for(live_asgi, mallory) as other:
            response = await other.delete(f"/api/v1/messages/{rows[2]['id']}/")
            assert (response.status_code, response.json()["code"]) == (404, "not_found")
        response = await client.delete(f"/api/v1/messages/{rows[2]['id']}/")
        assert response.status_code == 204
        assert _contents(await _branch(client, conversation.pk)) == [("user", "keep"), ("assistant", "You said: keep")]
        response = await client.delete(f"/api/v1/messages/{rows[2]['id']}/")
        assert (response.status_code, response.json()["code"]) == (404, "not_found")
        # The next message follows what is left.
        await _sse(client, "POST", f"{base}/completions/", {"content": "next"})
        rows = await _branch(client, conversation.pk)
    assert rows[2]["parent_id"] == rows[1]["id"] and len(rows) == 4


async def test_edit_parent_must_be_in_the_conversation(live_asgi, fake_provider, alice):
    conversation = await _conversation(alice)
    elsewhere = await _conversation(alice)
    stranger = await sync_to_async(message_create)(conversation=elsewhere, content="elsewhere")
    async with client_for(live_asgi, alice) as client:
        for path in (f"/api/v1/conversations/{conversation.pk}/completions/",
                     f"/api/v1/conversations/{conversation.pk}/messages/"):
            response = await client.post(path, json={"content": "x", "parent_id": str(stranger.pk)})
            assert (response.status_code, response.json()["code"]) == (404, "not_found"), path
            response = await client.post(path, json={"content": "x", "parent_id": "nope"})
            assert (response.status_code, response.json()["code"]) == (400, "invalid"), path
    assert await Message.objects.filter(conversation=conversation).acount() == 0


async def _receive_until(ws, predicate, seconds=15.0) -> list[dict]:
    frames = []
    async with asyncio.timeout(seconds):
        while True:
            frames.append(json.loads(await ws.recv()))
            if predicate(frames[-1]):
                return frames


async def test_a_second_socket_sees_messages_from_the_api_and_other_sockets(live_asgi, fake_provider, alice):
    conversation = await _conversation(alice)
    url = f"{live_asgi.ws_url}/ws/conversations/{conversation.pk}/"
    headers = bearer(alice.raw_token)
    async with websockets.connect(url, additional_headers=headers) as watcher, \
            websockets.connect(url, additional_headers=headers) as sender:
        await sender.send(json.dumps({"type": "send", "content": "from a tab"}))
        frames = await _receive_until(watcher, lambda f: f["type"] == "done")
        mine = await _receive_until(sender, lambda f: f["type"] == "done")
        async with client_for(live_asgi, alice) as client:
            await _sse(client, "POST", f"/api/v1/conversations/{conversation.pk}/completions/", {"content": "from api"})
        later = await _receive_until(watcher, lambda f: f["type"] == "done")
    messages = [f["message"] for f in frames if f["type"] == "message"]
    assert [(m["role"], m["content"]) for m in messages] == [("user", "from a tab"), ("assistant", "")]
    assert text_of([f for f in frames if f["type"] != "message"]) == "You said: from a tab"
    assert [f for f in mine if f["type"] == "message"] == [f for f in frames if f["type"] == "message"]  # SPEC §8
    assert [(f["message"]["role"], f["message"]["content"]) for f in later if f["type"] == "message"] == [
        ("user", "from api"), ("assistant", "")]
    assert text_of([f for f in later if f["type"] != "message"]) == "You said: from api"


def test_the_migration_links_existing_conversations_into_a_tree(user):
    link_parents = importlib.import_module("chats.migrations.0005_message_tree").link_parents
    conversation = conversation_create(owner=user)
    rows = []
    for role, selected, answers in [("user", True, None), ("assistant", False, 0), ("assistant", True, 0),
                                    ("user", True, None), ("assistant", True, 3)]:
        rows.append(Message.objects.create(conversation=conversation, role=role, selected=selected,
                                           reply_to=rows[answers] if answers is not None else None))
    Message.objects.filter(conversation=conversation).update(parent=None)
    link_parents(apps, None)
    parents = {m.pk: m.parent_id for m in Message.objects.filter(conversation=conversation)}
    assert [parents[m.pk] for m in rows] == [None, rows[0].pk, rows[0].pk, rows[2].pk, rows[3].pk]


def test_a_failed_generation_keeps_no_message_locked(user):
    # A reply whose generation is over does not block deleting it.
    conversation = conversation_create(owner=user)
    question = message_create(conversation=conversation, content="q")
    answer = Message.objects.create(conversation=conversation, role="assistant", reply_to=question,
                                    status=MessageStatus.FAILED)
    Generation.objects.create(owner=user, conversation=conversation, message=answer, model="openai/echo",
                              status=GenerationStatus.FAILED)
    from chats.tree import message_delete

    assert message_delete(message=question) == 2
