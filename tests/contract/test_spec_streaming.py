"""SPEC §3/§4 streaming contract over a live server and the fake provider: resuming a finished generation, methods."""
import asyncio

import httpx
import pytest

from accounts.services import api_token_create
from tests.chats.streaming_client import bearer, read_events

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def token(django_user_model):
    user = django_user_model.objects.create_user("carol", password="correct horse battery staple")
    _, raw = api_token_create(user=user, name="contract")
    return raw


async def finished_generation(client: httpx.AsyncClient) -> tuple[str, list[dict]]:
    conversation = (await client.post("/api/v1/conversations/", json={})).json()
    async with client.stream("POST", f"/api/v1/conversations/{conversation['id']}/completions/",
                             json={"content": "hi", "model": "openai/story-3-0"}) as response:
        assert response.status_code == 200
        events = await read_events(response)
    assert events[-1]["type"] == "done"
    return events[0]["generation_id"], events


@pytest.mark.parametrize("how", ["after", "last-event-id"])
async def test_resuming_a_finished_generation_past_its_end_closes_at_once(live_asgi, fake_provider, token, how):
    """A client that already saw `done` and reconnects gets no repeat and an ended stream, not endless pings."""
    async with httpx.AsyncClient(base_url=live_asgi.url, headers=bearer(token), timeout=30) as client:
        generation_id, events = await finished_generation(client)
        last = events[-1]["seq"]
        url = f"/api/v1/generations/{generation_id}/stream/"
        kwargs = {"params": {"after": last}} if how == "after" else {"headers": {"Last-Event-ID": str(last)}}
        # Also once the run has left this process's registry: the database log answers then.
        for _ in range(2):
            async with client.stream("GET", url, **kwargs) as response:
                assert response.status_code == 200
                body = await asyncio.wait_for(response.aread(), timeout=10)
            assert b"event:" not in body
            await asyncio.sleep(0.3)
        # One event short of the end still replays exactly the missing `done`.
        async with client.stream("GET", url, params={"after": last - 1}) as response:
            tail = await asyncio.wait_for(read_events(response), timeout=10)
        assert [event["seq"] for event in tail] == [last] and tail[0]["type"] == "done"


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/v1/generations/{gid}/cancel/"),
    ("POST", "/api/v1/generations/{gid}/stream/"),
    ("GET", "/api/v1/conversations/{cid}/completions/"),
    ("POST", "/api/v1/conversations/{cid}/stream/"),
    ("GET", "/api/v1/chat/stream/"),
    ("GET", "/api/v1/compare/"),
])
async def test_streaming_endpoints_answer_405_to_other_methods(live_asgi, fake_provider, token, method, path):
    """A GET never cancels a generation and a POST to a GET stream starts nothing: 405 {"detail","code"}."""
    async with httpx.AsyncClient(base_url=live_asgi.url, headers=bearer(token), timeout=30) as client:
        generation_id, events = await finished_generation(client)
        conversation_id = (await client.get(f"/api/v1/generations/{generation_id}/")).json()["conversation_id"]
        before = (await client.get(f"/api/v1/conversations/{conversation_id}/")).json()["message_count"]
        response = await client.request(method, path.format(gid=generation_id, cid=conversation_id), json={})
        assert response.status_code == 405
        assert response.json()["code"] == "method_not_allowed" and response.json()["detail"]
        assert response.headers["allow"]
        after = (await client.get(f"/api/v1/conversations/{conversation_id}/")).json()["message_count"]
        assert after == before


async def test_deleting_a_conversation_mid_reply_does_not_stop_other_replies_being_stored(live_asgi, fake_provider,
                                                                                         token):
    """SPEC §3 'delete with its messages' while a reply streams: later replies of the process are still stored."""
    async with httpx.AsyncClient(base_url=live_asgi.url, headers=bearer(token), timeout=30) as client:
        doomed = (await client.post("/api/v1/conversations/", json={})).json()["id"]
        async with client.stream("POST", f"/api/v1/conversations/{doomed}/completions/",
                                 json={"content": "long", "model": "openai/story-40-50"}) as response:
            await read_events(response, stop_after=3)
            assert (await client.delete(f"/api/v1/conversations/{doomed}/")).status_code == 204
            await asyncio.sleep(0.3)  # a few slices of the deleted generation reach the persister
        other = (await client.post("/api/v1/conversations/", json={})).json()["id"]
        async with client.stream("POST", f"/api/v1/conversations/{other}/completions/",
                                 json={"content": "still here", "model": "openai/echo"}) as response:
            events = await read_events(response)
        assert events[-1]["status"] == "complete"
        for _ in range(100):
            messages = (await client.get(f"/api/v1/conversations/{other}/messages/")).json()["results"]
            if messages[-1]["status"] == "complete":
                break
            await asyncio.sleep(0.1)
        assert messages[-1]["status"] == "complete"
        assert messages[-1]["content"] == "You said: still here"
        assert (await client.get(f"/api/v1/conversations/{doomed}/")).status_code == 404


async def test_stateless_chat_names_no_generation_that_does_not_exist(live_asgi, fake_provider, token):
    async with httpx.AsyncClient(base_url=live_asgi.url, headers=bearer(token), timeout=30) as client:
        async with client.stream("POST", "/api/v1/chat/stream/", json={
            "model": "openai/echo", "messages": [{"role": "user", "content": "hi"}],
        }) as response:
            assert response.status_code == 200
            events = await read_events(response)
        assert "x-generation-id" not in response.headers
        assert events[0]["type"] == "start" and events[0]["generation_id"] is None
        assert events[-1]["type"] == "done" and events[-1]["status"] == "complete"
