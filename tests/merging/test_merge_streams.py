"""A merge job's progress and text reach SSE and WebSocket clients live, and late subscribers still see the end."""
import asyncio
import json

import httpx
import pytest
import websockets

from merging.models import MergeJob
from tests.chats.streaming_client import parse_sse
from tests.merging.conftest import wait_for_job

pytestmark = pytest.mark.usefixtures("fake_provider", "in_process_tasks")


def start_merge(live_asgi, auth, conversations, model="openai/merge-tagged-20"):
    response = httpx.post(f"{live_asgi.url}/api/v1/merges/", headers=auth, timeout=10, json={
        "conversation_ids": [str(c.id) for c in conversations], "model": model})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def assert_well_formed(events, job):
    """Status first, content offsets contiguous per round, merge_complete last and only once."""
    assert events[0]["type"] == "status"
    assert events[-1]["type"] == "merge_complete" and [e["type"] for e in events].count("merge_complete") == 1
    text = ""
    for event in (e for e in events if e["type"] == "content"):
        if event["offset"] == 0:
            text = ""
        assert event["offset"] == len(text)
        text += event["content"]
    assert text == job.raw_output
    progress = [e["progress"] for e in events if "progress" in e]
    assert progress == sorted(progress) and progress[-1] == 100


def test_sse_follows_a_merge_live_and_late(live_asgi, auth, two_conversations):
    job_id = start_merge(live_asgi, auth, two_conversations)
    with httpx.stream("GET", f"{live_asgi.url}/api/v1/merges/{job_id}/stream/", headers=auth, timeout=30) as live:
        assert live.headers["content-type"].startswith("text/event-stream")
        assert live.headers["cache-control"] == "no-cache"
        events = parse_sse(live.read().decode())
    job = MergeJob.objects.get(pk=job_id)
    assert job.status == "succeeded"
    assert_well_formed(events, job)
    # Streamed in several slices while the model was still answering, not in one lump at the end.
    assert len([e for e in events if e["type"] == "content"]) > 2
    assert events[-1] == {**events[-1], "status": "succeeded", "conversation_id": str(job.result_conversation_id),
                          "message_id": None}

    late = parse_sse(httpx.get(f"{live_asgi.url}/api/v1/merges/{job_id}/stream/", headers=auth, timeout=10).text)
    assert [e["type"] for e in late] == ["status", "merge_complete"]
    assert late[-1]["conversation_id"] == str(job.result_conversation_id)


def test_sse_reports_a_failed_merge(live_asgi, auth, two_conversations):
    job_id = start_merge(live_asgi, auth, two_conversations, model="openai/merge-garbage")
    events = parse_sse(httpx.get(f"{live_asgi.url}/api/v1/merges/{job_id}/stream/", headers=auth, timeout=30).text)
    assert [e["type"] for e in events][-3:] == ["status", "error", "merge_complete"]
    assert events[-2]["code"] == "unparseable" and events[-1]["status"] == "failed"
    assert events[-1]["conversation_id"] is None


async def test_websocket_follows_a_merge(live_asgi, auth, two_conversations):
    job_id = await asyncio.to_thread(start_merge, live_asgi, auth, two_conversations)
    events = []
    async with websockets.connect(f"{live_asgi.ws_url}/ws/merges/{job_id}/", additional_headers=auth,
                                  origin=live_asgi.url) as socket:
        async for frame in socket:
            events.append(json.loads(frame))
    job = await asyncio.to_thread(wait_for_job, job_id)
    assert job.status == "succeeded"
    assert_well_formed(events, job)


async def test_websocket_refuses_other_users_and_strangers(live_asgi, other_user, two_conversations, auth):
    from accounts.services import api_token_create

    job_id = await asyncio.to_thread(start_merge, live_asgi, auth, two_conversations)
    _, raw = await asyncio.to_thread(api_token_create, user=other_user, name="x")
    for headers, code in (({"Authorization": f"Bearer {raw}"}, 4404), ({}, 4401)):
        async with websockets.connect(f"{live_asgi.ws_url}/ws/merges/{job_id}/", additional_headers=headers,
                                      origin=live_asgi.url) as socket:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await socket.recv()
        assert closed.value.rcvd.code == code
    await asyncio.to_thread(wait_for_job, job_id)
