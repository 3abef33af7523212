"""The generation engine survives the infrastructure (issue 11, SPEC §12): its long-lived database threads, the
starts' writer and the repair sweep connect again after PostgreSQL dropped their connections, in the same process."""
import httpx
import pytest

from tests.chats.streaming_client import parse_sse, story_text
from tests.faults.test_database_restart import assert_a_compare_works
from tests.fixtures.fake_provider import fake_provider_env
from tests.fixtures.faults import get_json

pytestmark = [pytest.mark.services, pytest.mark.usefixtures("fake_provider")]


@pytest.fixture
def web(start_web_process, fake_provider):
    return start_web_process(**fake_provider_env(fake_provider))


def assert_a_reply_streams_whole(web, auth) -> None:
    created = httpx.post(f"{web.url}/api/v1/conversations/", headers=auth, json={"title": "Story"}, timeout=10)
    assert created.status_code == 201, created.text
    reply = httpx.post(f"{web.url}/api/v1/conversations/{created.json()['id']}/completions/", headers=auth,
                       json={"content": "Tell me a story", "model": "openai/story-8-60"}, timeout=30)
    assert reply.status_code == 200, reply.text[:300]
    events = parse_sse(reply.text)
    assert "".join(e.get("content", "") for e in events if e["type"] == "content") == story_text(8)
    assert [e["status"] for e in events if e["type"] == "done"] == ["complete"]
    assert not [e for e in events if e["type"] == "error"]
    messages = httpx.get(f"{web.url}/api/v1/conversations/{created.json()['id']}/messages/", headers=auth, timeout=10)
    assert [(m["role"], m["content"]) for m in messages.json()["results"]] == [
        ("user", "Tell me a story"), ("assistant", story_text(8))]


def new_conversation(url: str, auth: dict, title: str) -> str:
    created = httpx.post(f"{url}/api/v1/conversations/", headers=auth, json={"title": title}, timeout=10)
    assert created.status_code == 201, created.text
    return created.json()["id"]


def streamed_events(url: str, auth: dict, conversation_id: str, model: str):
    """A completion's events as they arrive: the caller acts between them, with the stream still open."""
    import json

    with httpx.stream("POST", f"{url}/api/v1/conversations/{conversation_id}/completions/", headers=auth,
                      json={"content": "Tell me a story", "model": model}, timeout=30) as reply:
        assert reply.status_code == 200
        for line in reply.iter_lines():
            if line.startswith("data:"):
                yield json.loads(line[5:])


def test_replies_and_compares_stream_whole_after_the_engines_connections_were_killed(web, token, test_database):
    auth = {"Authorization": f"Bearer {token}"}
    assert_a_reply_streams_whole(web, auth)
    assert_a_compare_works(web, auth)

    assert test_database.terminate_connections() >= 1

    assert_a_reply_streams_whole(web, auth)
    assert_a_compare_works(web, auth)
    assert_a_reply_streams_whole(web, auth)
    status, health = get_json(f"{web.url}/api/v1/health/")
    assert status == 200 and health["database"] == "ok"


def test_a_client_streaming_when_the_server_is_told_to_stop_gets_done_interrupted_and_the_end(web, token, capfd):
    import signal

    auth = {"Authorization": f"Bearer {token}"}
    conversation_id = new_conversation(web.url, auth, "Long")
    seen: list[dict] = []
    for event in streamed_events(web.url, auth, conversation_id, "openai/story-400-50"):
        seen.append(event)
        if len([e for e in seen if e["type"] == "content"]) == 3:
            web.process.send_signal(signal.SIGTERM)  # as a deploy or `docker stop` does
    assert seen[-1]["type"] == "done" and seen[-1]["status"] == "interrupted", seen[-3:]
    assert [e["code"] for e in seen if e["type"] == "error"] == ["interrupted"]
    assert [e["seq"] for e in seen] == list(range(1, len(seen) + 1))
    assert web.process.wait(timeout=30) == -signal.SIGTERM  # stopped by itself (uvicorn re-raises the signal)
    # The connection was closed by the reply's end, not cut by uvicorn's graceful-shutdown timeout.
    assert "timeout graceful shutdown exceeded" not in capfd.readouterr().err
    streamed = "".join(e.get("content", "") for e in seen if e["type"] == "content")
    from chats.models import Message

    stored = Message.objects.get(conversation_id=conversation_id, role="assistant")
    assert (stored.status, stored.content) == ("interrupted", streamed)


def test_a_reply_that_ends_during_a_database_outage_is_stored_with_the_one_end_its_client_saw(web, token,
                                                                                               test_database):
    import json

    from chats.models import Generation, GenerationSlice, Message
    from tests.fixtures.faults import forget_dead_connections, wait_until

    auth = {"Authorization": f"Bearer {token}"}
    created = httpx.post(f"{web.url}/api/v1/conversations/", headers=auth, json={"title": "Outage"}, timeout=10)
    conversation_id = created.json()["id"]
    seen: list[dict] = []
    with httpx.stream("POST", f"{web.url}/api/v1/conversations/{conversation_id}/completions/", headers=auth,
                      json={"content": "Tell me a story", "model": "openai/story-20-50"}, timeout=30) as reply:
        lines = reply.iter_lines()
        with test_database.down():
            for line in lines:
                if line.startswith("data:"):
                    seen.append(json.loads(line[5:]))
                if seen and seen[-1]["type"] == "done":
                    break  # the client has its end while the database is still down
        forget_dead_connections()
        assert [line for line in lines if line.startswith("data:")] == []
    assert seen[-1]["status"] == "complete" and "".join(
        e.get("content", "") for e in seen if e["type"] == "content") == story_text(20)

    generation_id = seen[0]["generation_id"]
    ended = Generation.objects.filter(pk=generation_id).exclude(status__in=["queued", "running"])
    stored = wait_until(ended.first, timeout=30, what="the reply's end stored once the database is back")
    # What a later client reads from the log is what this one saw: one end, the same seqs.
    logged = [event for events in GenerationSlice.objects.filter(generation_id=generation_id)
              .order_by("first_seq").values_list("events", flat=True) for event in events]
    assert [(e["seq"], e["type"]) for e in logged] == [(e["seq"], e["type"]) for e in seen]
    assert [(e["seq"], e["status"]) for e in logged if e["type"] == "done"] == [(seen[-1]["seq"], "complete")]
    assert stored.status == "complete" and stored.last_seq == seen[-1]["seq"]
    message = Message.objects.get(pk=stored.message_id)
    assert (message.status, message.content) == ("complete", story_text(20))


def test_with_redis_down_a_follower_on_another_process_reads_the_reply_from_the_database(
        start_web_process, fake_provider, private_redis, token):
    env = {"REDIS_URL": private_redis.url(), **fake_provider_env(fake_provider)}
    runner, other = start_web_process(**env), start_web_process(**env)
    auth = {"Authorization": f"Bearer {token}"}
    seen: list[dict] = []
    for event in streamed_events(runner.url, auth, new_conversation(runner.url, auth, "Redis"), "openai/story-40-50"):
        seen.append(event)
        if len(seen) == 3:
            private_redis.stop()
            follow = httpx.get(f"{other.url}/api/v1/generations/{seen[0]['generation_id']}/stream/",
                               headers=auth, timeout=30)
    assert "".join(e.get("content", "") for e in seen if e["type"] == "content") == story_text(40)
    assert follow.status_code == 200, follow.text[:300]
    followed = parse_sse(follow.text)
    assert "".join(e.get("content", "") for e in followed if e["type"] == "content") == story_text(40)
    assert [(e["type"], e.get("status")) for e in followed[-1:]] == [("done", "complete")]
    assert [e["seq"] for e in followed] == [e["seq"] for e in seen]


def test_with_redis_down_a_cancel_on_another_process_stops_the_reply_through_the_database(
        start_web_process, fake_provider, private_redis, token):
    from chats.models import Message

    env = {"REDIS_URL": private_redis.url(), **fake_provider_env(fake_provider)}
    runner, other = start_web_process(**env), start_web_process(**env)
    auth = {"Authorization": f"Bearer {token}"}
    seen: list[dict] = []
    for event in streamed_events(runner.url, auth, new_conversation(runner.url, auth, "Cancel"),
                                 "openai/story-400-50"):
        seen.append(event)
        if len(seen) == 3:
            private_redis.stop()
            cancel = httpx.post(f"{other.url}/api/v1/generations/{seen[0]['generation_id']}/cancel/",
                                headers=auth, timeout=30)
            assert cancel.status_code == 200, cancel.text[:300]
    assert seen[-1]["type"] == "done" and seen[-1]["status"] == "cancelled"
    streamed = "".join(e.get("content", "") for e in seen if e["type"] == "content")
    assert streamed and streamed != story_text(400)
    message = Message.objects.get(pk=seen[0]["message_id"])
    assert (message.status, message.content) == ("cancelled", streamed)


def test_with_redis_down_the_chat_websocket_opens_and_streams_a_reply(start_web_process, fake_provider,
                                                                        private_redis, token):
    import json

    from websockets.sync.client import connect

    web = start_web_process(REDIS_URL=private_redis.url(), **fake_provider_env(fake_provider))
    auth = {"Authorization": f"Bearer {token}"}
    created = httpx.post(f"{web.url}/api/v1/conversations/", headers=auth, json={"title": "Socket"}, timeout=10)
    private_redis.stop()
    url = web.url.replace("http", "ws", 1) + f"/ws/conversations/{created.json()['id']}/"
    with connect(url, additional_headers=auth, open_timeout=10) as socket:
        socket.send(json.dumps({"type": "send", "content": "Tell me a story", "model": "openai/story-8-20"}))
        received = []
        while not received or received[-1]["type"] != "done":
            received.append(json.loads(socket.recv(timeout=20)))
    assert "".join(e.get("content", "") for e in received if e["type"] == "content") == story_text(8)
    assert received[-1]["status"] == "complete"
