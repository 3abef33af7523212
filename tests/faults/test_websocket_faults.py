"""The chat WebSocket when its web process is told to stop, or loses Redis, while a reply streams (issue 11)."""
import json
import signal

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.chats.streaming_client import story_text
from tests.faults.test_engine_faults import new_conversation
from tests.fixtures.fake_provider import fake_provider_env

pytestmark = [pytest.mark.services, pytest.mark.usefixtures("fake_provider")]


def socket_url(web, conversation_id: str) -> str:
    return web.url.replace("http", "ws", 1) + f"/ws/conversations/{conversation_id}/"


def reply_frames(socket, *, until_done: bool = True, count: int | None = None) -> list[dict]:
    """The socket's reply frames (not `message` announcements): up to `done`, or the next `count`."""
    frames: list[dict] = []
    while (count is None or len(frames) < count) and not (until_done and frames and frames[-1]["type"] == "done"):
        frame = json.loads(socket.recv(timeout=20))
        if frame["type"] != "message":
            frames.append(frame)
    return frames


def test_a_websocket_client_gets_done_interrupted_and_a_close_when_the_server_is_told_to_stop(
        start_web_process, fake_provider, token, capfd):
    from chats.models import Message

    web = start_web_process(**fake_provider_env(fake_provider))
    auth = {"Authorization": f"Bearer {token}"}
    conversation_id = new_conversation(web.url, auth, "Socket stop")
    with connect(socket_url(web, conversation_id), additional_headers=auth, open_timeout=10) as socket:
        socket.send(json.dumps({"type": "send", "content": "Tell me a story", "model": "openai/story-400-50"}))
        frames = reply_frames(socket, until_done=False, count=4)
        web.process.send_signal(signal.SIGTERM)  # as a deploy or `docker stop` does
        frames += reply_frames(socket)
        with pytest.raises(ConnectionClosed):
            socket.recv(timeout=20)  # closed by the server, not left open
    assert frames[-1]["type"] == "done" and frames[-1]["status"] == "interrupted", frames[-3:]
    assert [e["code"] for e in frames if e["type"] == "error"] == ["interrupted"]
    assert [e["seq"] for e in frames] == list(range(1, len(frames) + 1))
    assert web.process.wait(timeout=30) == -signal.SIGTERM
    assert "timeout graceful shutdown exceeded" not in capfd.readouterr().err
    stored = Message.objects.get(pk=frames[0]["message_id"])
    assert (stored.status, stored.content) == (
        "interrupted", "".join(e.get("content", "") for e in frames if e["type"] == "content"))


def test_a_websocket_keeps_streaming_its_reply_when_redis_dies_and_the_next_send_does_not_hang(
        start_web_process, fake_provider, private_redis, token):
    from chats.models import Message

    web = start_web_process(REDIS_URL=private_redis.url(), **fake_provider_env(fake_provider))
    auth = {"Authorization": f"Bearer {token}"}
    conversation_id = new_conversation(web.url, auth, "Socket redis")
    with connect(socket_url(web, conversation_id), additional_headers=auth, open_timeout=10) as socket:
        socket.send(json.dumps({"type": "send", "content": "Tell me a story", "model": "openai/story-40-50"}))
        frames = reply_frames(socket, until_done=False, count=4)
        private_redis.stop()
        frames += reply_frames(socket)
        assert "".join(e.get("content", "") for e in frames if e["type"] == "content") == story_text(40)
        assert frames[-1]["status"] == "complete"
        assert [e["seq"] for e in frames] == list(range(1, len(frames) + 1))

        # The same socket, Redis still down: the next reply streams too (this process runs it).
        socket.send(json.dumps({"type": "send", "content": "Another", "model": "openai/story-8-20"}))
        second = reply_frames(socket)
    assert "".join(e.get("content", "") for e in second if e["type"] == "content") == story_text(8)
    assert second[-1]["status"] == "complete"
    stored = Message.objects.get(pk=second[0]["message_id"])
    assert (stored.status, stored.content) == ("complete", story_text(8))
