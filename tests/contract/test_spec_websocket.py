"""SPEC §4 WebSocket from a non-browser client: Authorization header, send, resume (after as number or text)."""
import asyncio
import json

import httpx
import pytest
import websockets

from accounts.services import api_token_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def token(django_user_model):
    user = django_user_model.objects.create_user("dave", password="correct horse battery staple")
    _, raw = api_token_create(user=user, name="contract")
    return raw


async def frames_until_done(ws) -> list[dict]:
    events = []
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if event["type"] == "message":  # SPEC §8's announcement of the sent message, before its reply's events
            continue
        events.append(event)
        if event["type"] == "done" or (event["type"] == "error" and "seq" not in event):  # end, or a refused frame
            return events


@pytest.mark.parametrize("after", [2, "2"])
async def test_send_then_resume_over_websocket_with_a_bearer_header(live_asgi, fake_provider, token, after):
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=live_asgi.url, headers=headers, timeout=30) as client:
        conversation = (await client.post("/api/v1/conversations/", json={})).json()["id"]
    url = f"{live_asgi.ws_url}/ws/conversations/{conversation}/"
    async with websockets.connect(url, additional_headers=headers) as ws:
        await ws.send(json.dumps({"type": "send", "content": "hi", "model": "openai/story-3-0"}))
        sent = await frames_until_done(ws)
        assert [event["seq"] for event in sent] == list(range(1, len(sent) + 1))
        assert sent[0]["type"] == "start" and sent[-1]["status"] == "complete"
        await ws.send(json.dumps({"type": "resume", "generation_id": sent[0]["generation_id"], "after": after}))
        resumed = await frames_until_done(ws)
    assert resumed == sent[2:]
