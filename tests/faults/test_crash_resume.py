"""A web process killed with SIGKILL mid-reply (issue 11, SPEC §12): its client resumes on another process with
the last seq it saw and ends with what is stored, one end, and no seq it saw reused for something else."""
import json
from io import StringIO

import httpx
import pytest
from django.core.management import call_command

from tests.chats.streaming_client import parse_sse
from tests.faults.test_engine_faults import new_conversation, streamed_events
from tests.fixtures.fake_provider import fake_provider_env

pytestmark = [pytest.mark.services, pytest.mark.usefixtures("fake_provider")]


def what_the_user_sees(events: list[dict]) -> dict:
    """The reply as a client draws it from its events (static/js/stream.js's reducer): text, status, ends."""
    seen = {"content": "", "reasoning": "", "status": "streaming", "dones": 0, "errors": []}
    for event in events:
        if event["type"] == "content":
            seen["content"] += event["content"]
        elif event["type"] == "reasoning":
            seen["reasoning"] += event["reasoning"]
        elif event["type"] == "snapshot":
            seen["content"], seen["reasoning"] = event["content"], event["reasoning"]
        elif event["type"] == "error":
            seen["errors"].append(event["code"])
        elif event["type"] == "done":
            seen["status"] = event["status"]
            seen["dones"] += 1
    return seen


def assert_resumed_to_the_stored_reply(before: list[dict], resumed: list[dict], message) -> None:
    last_seen = before[-1]["seq"]
    numbered = [e["seq"] for e in resumed if "seq" in e]
    assert numbered and numbered == sorted(set(numbered)) and numbered[0] > last_seen, (last_seen, resumed)
    assert [e["type"] for e in resumed if e["type"] != "snapshot"] == ["error", "done"], resumed
    assert [e["type"] for e in resumed].count("snapshot") <= 1 and resumed[-1]["type"] == "done"
    seen = what_the_user_sees(before + resumed)
    assert seen["dones"] == 1 and seen["errors"] == ["interrupted"]
    assert (seen["status"], seen["content"]) == (message.status, message.content) == ("interrupted", message.content)


def test_a_client_of_a_web_process_killed_mid_reply_resumes_on_another_with_the_stored_reply(
        start_web_process, fake_provider, token):
    from chats.models import Generation, Message

    env = fake_provider_env(fake_provider)
    runner, other = start_web_process(**env), start_web_process(**env)
    auth = {"Authorization": f"Bearer {token}"}
    before: list[dict] = []
    # Tokens every 5 ms: the client is always a few tokens ahead of the ~40 ms slices in the database.
    for event in streamed_events(runner.url, auth, new_conversation(runner.url, auth, "Crash"), "openai/story-3000-5"):
        before.append(event)
        if len(before) == 60:
            runner.kill()
            break
    assert [e["seq"] for e in before] == list(range(1, 61))
    generation_id, last_seen = before[0]["generation_id"], before[-1]["seq"]

    # The client reconnects to another process before anyone has noticed the crash: it waits, then hears the end
    # the repair stores (the periodic sweep after the heartbeats went stale, or this command by hand).
    with httpx.stream("GET", f"{other.url}/api/v1/generations/{generation_id}/stream/?after={last_seen}",
                      headers=auth, timeout=60) as waiting:
        assert waiting.status_code == 200
        call_command("repair_generations", stdout=StringIO())
        resumed = parse_sse(waiting.read().decode())
    message = Message.objects.get(pk=before[0]["message_id"])
    assert_resumed_to_the_stored_reply(before, resumed, message)
    assert before[-1]["type"] == "content" and what_the_user_sees(before)["content"].startswith(message.content)

    # An EventSource that reconnects after the repair (Last-Event-ID) gets the same, and the stream ends.
    again = httpx.get(f"{other.url}/api/v1/generations/{generation_id}/stream/", timeout=30,
                      headers={**auth, "Last-Event-ID": str(last_seen)})
    assert again.status_code == 200
    assert [(e["type"], e.get("seq")) for e in parse_sse(again.text)] == [(e["type"], e.get("seq")) for e in resumed]
    assert_resumed_to_the_stored_reply(before, parse_sse(again.text), message)

    # A client that starts over reads the stored reply whole: the same text, the same end.
    replay = parse_sse(httpx.get(f"{other.url}/api/v1/generations/{generation_id}/stream/", headers=auth,
                                 timeout=30).text)
    assert [e["seq"] for e in replay] == sorted({e["seq"] for e in replay})
    assert what_the_user_sees(replay)["content"] == message.content
    assert [e["type"] for e in replay].count("done") == 1 and replay[-1] == resumed[-1]
    generation = Generation.objects.get(pk=generation_id)
    assert (generation.status, generation.last_seq) == ("interrupted", resumed[-1]["seq"])


def test_a_websocket_client_of_a_killed_web_process_resumes_on_another(start_web_process, fake_provider, token):
    from websockets.sync.client import connect

    from chats.models import Message

    env = fake_provider_env(fake_provider)
    runner, other = start_web_process(**env), start_web_process(**env)
    auth = {"Authorization": f"Bearer {token}"}
    conversation_id = new_conversation(runner.url, auth, "Socket crash")
    before: list[dict] = []
    with connect(runner.url.replace("http", "ws", 1) + f"/ws/conversations/{conversation_id}/",
                 additional_headers=auth, open_timeout=10) as socket:
        socket.send(json.dumps({"type": "send", "content": "Tell me a story", "model": "openai/story-3000-5"}))
        while len(before) < 60:
            frame = json.loads(socket.recv(timeout=20))
            if "seq" in frame:  # the socket also tells of the user's message (a `message` frame)
                before.append(frame)
        runner.kill()
    assert [e["seq"] for e in before] == list(range(1, 61))
    call_command("repair_generations", stdout=StringIO())

    resumed = []
    with connect(other.url.replace("http", "ws", 1) + f"/ws/conversations/{conversation_id}/",
                 additional_headers=auth, open_timeout=10) as socket:
        socket.send(json.dumps({"type": "resume", "generation_id": before[0]["generation_id"],
                                "after": before[-1]["seq"]}))
        while not resumed or resumed[-1]["type"] != "done":
            frame = json.loads(socket.recv(timeout=20))
            if frame["type"] != "message":
                resumed.append(frame)
    assert_resumed_to_the_stored_reply(before, resumed, Message.objects.get(pk=before[0]["message_id"]))


def test_a_continued_reply_whose_process_was_killed_keeps_the_text_it_had_before(
        start_web_process, fake_provider, token, user):
    from chats.models import Generation, Message, MessageStatus
    from chats.services import conversation_create, message_create

    conversation = conversation_create(owner=user, default_model="openai/story-3000-5")
    question = message_create(conversation=conversation, content="tell me")
    stopped = Message.objects.create(conversation=conversation, role="assistant", reply_to=question,
                                     content="Once upon a time ", status=MessageStatus.CANCELLED,
                                     model="openai/story-3000-5")
    runner = start_web_process(**fake_provider_env(fake_provider))
    auth = {"Authorization": f"Bearer {token}"}
    before: list[dict] = []
    with httpx.stream("POST", f"{runner.url}/api/v1/messages/{stopped.pk}/continue/", headers=auth,
                      timeout=30) as reply:
        assert reply.status_code == 200
        for line in reply.iter_lines():
            if line.startswith("data:"):
                before.append(json.loads(line[5:]))
                if len(before) == 40:
                    runner.kill()
                    break
    assert what_the_user_sees(before)["content"]

    call_command("repair_generations", stdout=StringIO())
    stopped.refresh_from_db()
    generation = Generation.objects.get(pk=before[0]["generation_id"])
    assert (generation.status, stopped.status) == ("interrupted", "interrupted")
    # The text from before the continue stays, followed by what the continuation had logged (a prefix of what the
    # client saw: the last slice may not have reached the database).
    assert stopped.content.startswith("Once upon a time w1 ")
    assert what_the_user_sees(before)["content"].startswith(stopped.content.removeprefix("Once upon a time "))
