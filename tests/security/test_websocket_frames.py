"""Malformed frames on every WebSocket (conversation, compare, merge) answer an `error` frame and the connection
stays open: a valid frame after them still works. Real connections to the live ASGI server."""
import asyncio
import json

import pytest
import websockets
from asgiref.sync import sync_to_async

from chats.services import conversation_create
from merging.models import MergeJob
from tests.chats.streaming_client import bearer

pytestmark = pytest.mark.django_db(transaction=True)

DEEP = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = json.dumps({"type": "send", "content": "x", "model": "x"})[:-1] + ', "n": ' + "[" * 70 + "]" * 70 + "}"

# (frame, the codes it may answer with): each is refused for what it is, never by a closed socket.
MALFORMED = [
    (b"\x00\x01binary", {"bad_frame"}),
    ("not json", {"bad_frame"}),
    ("", {"bad_frame"}),
    (DEEP, {"too_deep"}),
    (DEEP_OBJECT, {"too_deep"}),
    (json.dumps([1, 2]), {"bad_frame"}),
    (json.dumps("text"), {"bad_frame"}),
    (json.dumps(None), {"bad_frame"}),
    (json.dumps({"no": "type"}), {"bad_frame"}),
    (json.dumps({"type": 7}), {"bad_frame"}),
    (json.dumps({"type": "dance"}), {"unknown_type"}),
    (json.dumps({"type": "send\u0000", "content": "nul"}), {"invalid_characters"}),
    (json.dumps({"type": "x", "content": "a\u0000b"}), {"invalid_characters"}),
    (json.dumps({"type": "x", "pad": "x" * 1_100_000}), {"too_large"}),
]


async def refused(ws, frame, codes):
    await ws.send(frame)
    answer = json.loads(await asyncio.wait_for(ws.recv(), 15))
    assert answer["type"] == "error" and answer["code"] in codes, (str(frame)[:60], answer)
    assert answer["message"]


async def test_conversation_socket_survives_malformed_frames(live_asgi, fake_provider, alice):
    conversation = await sync_to_async(conversation_create)(owner=alice, default_model="openai/story-3-0")
    async with websockets.connect(f"{live_asgi.ws_url}/ws/conversations/{conversation.pk}/", open_timeout=10,
                                  additional_headers=bearer(alice.raw_token), max_size=None) as ws:
        for frame, codes in [*MALFORMED,
                             (json.dumps({"type": "resume", "generation_id": "x", "after": "1.5"}), {"invalid"}),
                             (json.dumps({"type": "resume", "generation_id": [1], "after": 0}), {"not_found"})]:
            await refused(ws, frame, codes)
        await ws.send(json.dumps({"type": "send", "content": "still here"}))
        while (event := json.loads(await asyncio.wait_for(ws.recv(), 15)))["type"] != "done":
            pass
    assert event["status"] == "complete"


async def test_compare_socket_survives_malformed_frames(live_asgi, fake_provider, alice):
    async with websockets.connect(f"{live_asgi.ws_url}/ws/compare/", open_timeout=10, max_size=None,
                                  additional_headers=bearer(alice.raw_token)) as ws:
        for frame, codes in [
            *MALFORMED,
            (json.dumps({"type": "follow", "group_id": "g", "after": {"x": "1.5"}}), {"invalid"}),
            (json.dumps({"type": "follow", "group_id": "g", "after": {"x": 1.5}}), {"invalid"}),
            (json.dumps({"type": "follow", "group_id": "g", "after": {"x": -1}}), {"invalid"}),
            (json.dumps({"type": "follow", "group_id": "g", "after": [1]}), {"invalid"}),
            (json.dumps({"type": "follow", "group_id": {"a": 1}}), {"not_found"}),
            (json.dumps({"type": "follow", "group_id": "not-a-uuid"}), {"not_found"}),
            (json.dumps({"type": "compare", "prompt": "x", "models": "openai/echo"}), {"not_a_list", "invalid"}),
        ]:
            await refused(ws, frame, codes)
        await ws.send(json.dumps({"type": "compare", "prompt": "still here", "models": ["openai/echo"]}))
        kinds = []
        while (event := json.loads(await asyncio.wait_for(ws.recv(), 15)))["type"] != "compare_complete":
            kinds.append(event["type"])
    assert kinds[0] == "compare_started" and "done" in kinds


async def test_merge_socket_survives_malformed_frames(live_asgi, alice):
    job = await sync_to_async(MergeJob.objects.create)(owner=alice, kind="conversations", model="openai/echo",
                                                       request_digest="frames")
    async with websockets.connect(f"{live_asgi.ws_url}/ws/merges/{job.pk}/", open_timeout=10, max_size=None,
                                  additional_headers=bearer(alice.raw_token)) as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), 15))
        assert first["type"] == "status"
        for frame, codes in MALFORMED:
            await refused(ws, frame, codes)
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 15)) == {"type": "pong"}
