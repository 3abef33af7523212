"""Compare over a live ASGI server and the fake provider: concurrent answers, stored as siblings, JSON and SSE."""
import time

import httpx
import pytest

from chats.models import Conversation, Generation, Message
from tests.chats.streaming_client import parse_sse

pytestmark = pytest.mark.usefixtures("fake_provider")

MODELS = ["openai/story-8-60", "anthropic/story-6-80", "openai/fail-after-2", "gemini/echo"]


def compare(live_asgi, auth, timeout=30, **body):
    return httpx.post(f"{live_asgi.url}/api/v1/compare/", json=body, headers=auth, timeout=timeout)


def test_compare_json_runs_models_concurrently_and_stores_siblings(live_asgi, auth, user):
    response = compare(live_asgi, auth, prompt="Tell me a story", models=MODELS)
    assert response.status_code == 200, response.text
    body = response.json()
    answers = {r["model"]: r for r in body["responses"]}
    assert [r["model"] for r in body["responses"]] == MODELS

    assert answers["openai/story-8-60"]["content"] == "".join(f"w{i} " for i in range(1, 9))
    assert answers["anthropic/story-6-80"]["content"] == "".join(f"w{i} " for i in range(1, 7))
    assert answers["gemini/echo"]["content"] == "You said: Tell me a story"
    assert answers["anthropic/story-6-80"]["provider"] == "anthropic"
    failed = answers["openai/fail-after-2"]
    assert failed["error"] and failed["status"] == "failed" and failed["content"] == "w1 w2 "
    for model in ("openai/story-8-60", "anthropic/story-6-80", "gemini/echo"):
        assert answers[model]["error"] is None and answers[model]["status"] == "complete"
        assert answers[model]["latency_ms"] >= answers[model]["ttft_ms"] >= 0
        assert answers[model]["usage"]["completion_tokens"] > 0

    # Concurrent, not one after the other: each slow answer started before the other one finished.
    slow = list(Generation.objects.filter(message_id__in=[answers[m]["message_id"]
                                                          for m in ("openai/story-8-60", "anthropic/story-6-80")]))
    assert len(slow) == 2
    assert max(g.started_at for g in slow) < min(g.finished_at for g in slow)

    question = Message.objects.get(pk=body["user_message_id"])
    assert question.role == "user" and question.content == "Tell me a story"
    assert str(question.conversation_id) == body["conversation_id"]
    siblings = list(Message.objects.filter(reply_to=question))
    assert {str(m.id) for m in siblings} == {r["message_id"] for r in body["responses"]}
    assert {m.model for m in siblings} == set(MODELS)
    # The first answer to complete is the one the conversation continues from.
    [selected] = [m for m in siblings if m.selected]
    assert selected.status == "complete" and str(selected.id) == body["selected_message_id"]
    assert selected.model == "gemini/echo"  # the fastest one

    choice = answers["anthropic/story-6-80"]["message_id"]
    picked = httpx.post(f"{live_asgi.url}/api/v1/messages/{choice}/select/", headers=auth, timeout=10)
    assert picked.status_code == 200 and picked.json()["selected"] is True
    assert [str(m.id) for m in Message.objects.filter(reply_to=question, selected=True)] == [choice]


def test_compare_sse_tags_every_event(live_asgi, auth):
    models = ["openai/story-5-30", "openai/fail-after-1", "deepseek/story-3-50"]
    with httpx.stream("POST", f"{live_asgi.url}/api/v1/compare/", headers=auth, timeout=30,
                      json={"prompt": "Go", "models": models, "stream": True}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        group_id = response.headers["X-Compare-Group-ID"]
        events = parse_sse(response.read().decode())
    frame_ids = [int(e["_id"]) for e in events]
    assert frame_ids == sorted(set(frame_ids)) and frame_ids[0] == 1
    by_model = {m: [e for e in events if e["model"] == m] for m in models}
    assert sum(map(len, by_model.values())) == len(events)
    for own in by_model.values():
        assert [e["seq"] for e in own] == list(range(1, len(own) + 1))
        assert own[0]["type"] == "start" and own[-1]["type"] == "done"
        assert len({e["message_id"] for e in own}) == 1 and own[0]["message_id"] == own[-1]["message_id"]
    text = {m: "".join(e.get("content", "") for e in own if e["type"] == "content") for m, own in by_model.items()}
    assert text == {"openai/story-5-30": "w1 w2 w3 w4 w5 ", "openai/fail-after-1": "w1 ",
                    "deepseek/story-3-50": "w1 w2 w3 "}
    assert [e["type"] for e in by_model["openai/fail-after-1"]][-2:] == ["error", "done"]
    assert by_model["openai/fail-after-1"][-1]["status"] == "failed"
    stored = Message.objects.filter(generation__group_id=group_id)
    assert {m.content for m in stored} == set(text.values())


def test_compare_resumes_per_generation(live_asgi, auth):
    with httpx.stream("POST", f"{live_asgi.url}/api/v1/compare/", headers=auth, timeout=30,
                      json={"prompt": "Go", "models": ["openai/story-12-40", "openai/story-4-10"],
                            "stream": True}) as response:
        seen = []
        for line in response.iter_lines():
            if line.startswith("data:"):
                seen.append(line)
            if len(seen) == 3:
                break  # the client drops the connection
    events = parse_sse("\n\n".join(seen) + "\n\n")
    slow = [e for e in events if e["model"] == "openai/story-12-40"] or events[:1]
    generation_id, after = slow[-1]["generation_id"], slow[-1]["seq"]
    rest = httpx.get(f"{live_asgi.url}/api/v1/generations/{generation_id}/stream/?after={after}", headers=auth,
                     timeout=30)
    more = parse_sse(rest.text)
    assert [e["seq"] for e in more] == list(range(after + 1, after + 1 + len(more)))
    assert more[-1]["type"] == "done"


def test_compare_defaults_to_configured_models(live_asgi, auth, settings):
    settings.PARLEY_COMPARE_MODELS = ["openai/echo", "xai/echo"]
    body = compare(live_asgi, auth, prompt="hi").json()
    assert [r["model"] for r in body["responses"]] == ["openai/echo", "xai/echo"]
    assert {r["content"] for r in body["responses"]} == {"You said: hi"}


@pytest.mark.parametrize("body, status, code", [
    ({"models": ["openai/echo", "nosuch/model"]}, 400, "unknown_provider"),
    ({"models": ["openai/echo", "no-slash"]}, 400, "invalid_model"),
    ({"models": ["openai/echo", "openai/echo"]}, 400, "duplicate_models"),
    ({"models": [f"openai/echo-{i}" for i in range(9)]}, 400, "too_many_models"),
    ({"models": ["openai/echo"], "colour": "red"}, 400, "unknown_field"),
    ({"prompt": "  "}, 400, "blank"),
    ({"models": ["anthropic/claude-sonnet-4-5"]}, 400, "provider_not_configured"),
    ({"conversation_id": "00000000-0000-0000-0000-000000000000"}, 404, "not_found"),
])
def test_bad_compare_requests_store_nothing(live_asgi, auth, settings, body, status, code):
    settings.PARLEY_PROVIDER_ENV = {**settings.PARLEY_PROVIDER_ENV,
                                    "anthropic": {"api_key": "", "base_url": "http://127.0.0.1:9"}}
    response = compare(live_asgi, auth, **{"prompt": "hi", "models": ["openai/echo"], **body})
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert Conversation.objects.count() == 0 and Message.objects.count() == 0


def test_compare_in_someone_elses_conversation_is_404(live_asgi, auth, other_user):
    theirs = Conversation.objects.create(owner=other_user, title="theirs")
    response = compare(live_asgi, auth, prompt="hi", models=["openai/echo"], conversation_id=str(theirs.id))
    assert response.status_code == 404
    assert Message.objects.count() == 0


def test_compare_requires_authentication(live_asgi):
    response = httpx.post(f"{live_asgi.url}/api/v1/compare/", json={"prompt": "hi"}, timeout=10)
    assert response.status_code == 401


async def test_compare_over_websocket_then_follow_again(live_asgi, auth):
    import asyncio
    import json

    import websockets

    url = f"{live_asgi.ws_url}/ws/compare/"
    models = ["openai/story-4-20", "openai/fail-after-1"]
    async with websockets.connect(url, additional_headers=auth, origin=live_asgi.url) as socket:
        await socket.send("not json")
        assert json.loads(await socket.recv())["code"] == "bad_frame"
        await socket.send(json.dumps({"type": "dance"}))
        assert json.loads(await socket.recv())["code"] == "unknown_type"
        await socket.send(json.dumps({"type": "compare", "prompt": "Go", "models": ["openai/echo", "bad"]}))
        assert json.loads(await socket.recv())["code"] == "invalid_model"
        await socket.send(json.dumps({"type": "compare", "prompt": "Go", "models": models}))
        started = json.loads(await socket.recv())
        assert started["type"] == "compare_started" and [g["model"] for g in started["generations"]] == models
        events = []
        while not events or events[-1]["type"] != "compare_complete":
            events.append(json.loads(await asyncio.wait_for(socket.recv(), 30)))
    tagged = events[:-1]
    assert all(e["model"] in models and e["message_id"] for e in tagged)
    assert sorted(e["status"] for e in tagged if e["type"] == "done") == ["complete", "failed"]
    story = "".join(e.get("content", "") for e in tagged if e["model"] == models[0] and e["type"] == "content")
    assert story == "w1 w2 w3 w4 "
    complete_id = next(e["message_id"] for e in tagged if e["type"] == "done" and e["status"] == "complete")
    assert events[-1]["selected_message_id"] == complete_id

    # Following the finished compare again replays it whole.
    async with websockets.connect(url, additional_headers=auth, origin=live_asgi.url) as socket:
        await socket.send(json.dumps({"type": "follow", "group_id": started["group_id"]}))
        replay = []
        while not replay or replay[-1]["type"] != "compare_complete":
            replay.append(json.loads(await asyncio.wait_for(socket.recv(), 30)))
    assert replay[0]["type"] == "compare_started"
    assert sorted((e["model"], e["seq"]) for e in replay[1:-1]) == sorted((e["model"], e["seq"]) for e in tagged)


async def test_compare_websocket_refuses_anonymous_and_foreign_groups(live_asgi, auth, other_user):
    import asyncio
    import json

    import websockets

    from accounts.services import api_token_create

    url = f"{live_asgi.ws_url}/ws/compare/"
    async with websockets.connect(url, origin=live_asgi.url) as socket:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await socket.recv()
    assert closed.value.rcvd.code == 4401
    async with websockets.connect(url, additional_headers=auth, origin=live_asgi.url) as socket:
        await socket.send(json.dumps({"type": "compare", "prompt": "Go", "models": ["openai/echo"]}))
        group_id = json.loads(await socket.recv())["group_id"]
    _, raw = await asyncio.to_thread(api_token_create, user=other_user, name="x")
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {raw}"},
                                  origin=live_asgi.url) as socket:
        await socket.send(json.dumps({"type": "follow", "group_id": group_id}))
        assert json.loads(await socket.recv())["code"] == "not_found"


def test_first_complete_answer_is_selected_even_when_nobody_follows(live_asgi, auth):
    from chats.models import Generation

    models = ["openai/fail-after-1", "openai/story-3-20"]
    with httpx.stream("POST", f"{live_asgi.url}/api/v1/compare/", headers=auth, timeout=30,
                      json={"prompt": "Go", "models": models, "stream": True}) as response:
        group_id = response.headers["X-Compare-Group-ID"]
        next(response.iter_lines())  # then walk away
    deadline = time.monotonic() + 20
    while Generation.objects.filter(group_id=group_id, finished_at__isnull=True).exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    while time.monotonic() < deadline and not Message.objects.filter(
            generation__group_id=group_id, selected=True, model="openai/story-3-20").exists():
        time.sleep(0.05)
    [selected] = Message.objects.filter(generation__group_id=group_id, selected=True)
    assert selected.model == "openai/story-3-20" and selected.status == "complete"


def test_compare_inside_a_conversation_uses_its_history_and_409s_while_busy(live_asgi, auth, user, fake_provider):
    from tests.merging.conftest import add_conversation

    conversation = add_conversation(user, "ongoing", [("user", "My name is Ada."), ("assistant", "Hello Ada.")])
    with httpx.stream("POST", f"{live_asgi.url}/api/v1/compare/", headers=auth, timeout=30, json={
            "prompt": "Long answer please", "models": ["openai/story-30-50", "openai/story-20-50"],
            "conversation_id": str(conversation.id), "stream": True}) as running:
        lines = running.iter_lines()
        first = next(lines)
        # A second compare in the same conversation while the first streams: refused, nothing stored.
        before = Message.objects.filter(conversation=conversation).count()
        busy = compare(live_asgi, auth, prompt="Another", models=["openai/echo"], conversation_id=str(conversation.id))
        assert busy.status_code == 409, busy.text
        assert Message.objects.filter(conversation=conversation).count() == before
        events = parse_sse("\n".join([first, *lines]))
    assert [e["status"] for e in events if e["type"] == "done"] == ["complete", "complete"]
    sent = [r["json"]["messages"] for r in fake_provider.requests() if r["json"] and
            r["json"].get("model") == "story-30-50"]
    assert [m["content"] for m in sent[0]] == ["My name is Ada.", "Hello Ada.", "Long answer please"]
    assert Message.objects.filter(conversation=conversation, role="user").count() == 2


async def test_cancel_one_model_of_a_compare_over_websocket(live_asgi, auth):
    import asyncio
    import json

    import websockets

    models = ["openai/story-60-50", "openai/story-3-10"]
    async with websockets.connect(f"{live_asgi.ws_url}/ws/compare/", additional_headers=auth,
                                  origin=live_asgi.url) as socket:
        await socket.send(json.dumps({"type": "compare", "prompt": "Go", "models": models}))
        started = json.loads(await socket.recv())
        slow = started["generations"][0]["generation_id"]
        events = []
        while not events or events[-1]["type"] != "compare_complete":
            events.append(json.loads(await asyncio.wait_for(socket.recv(), 30)))
            if len([e for e in events if e.get("generation_id") == slow and e["type"] == "content"]) == 3:
                await socket.send(json.dumps({"type": "cancel", "generation_id": slow}))
    done = {e["model"]: e["status"] for e in events if e["type"] == "done"}
    assert done == {"openai/story-60-50": "cancelled", "openai/story-3-10": "complete"}
    kept = "".join(e["content"] for e in events if e.get("generation_id") == slow and e["type"] == "content")
    assert kept.startswith("w1 w2 w3 ") and len(kept.split()) < 60
    stored = await asyncio.to_thread(lambda: Message.objects.get(generation__id=slow))
    assert stored.status == "cancelled" and stored.content == kept


@pytest.mark.django_db
def test_without_compare_models_every_configured_provider_answers(settings, user):
    from merging.compare import compare_models_validate
    from merging.services import InvalidRequest

    settings.PARLEY_COMPARE_MODELS = []
    settings.PARLEY_PROVIDER_ENV = {
        slug: {**config, "api_key": config["api_key"] if slug in ("openai", "gemini") else ""}
        for slug, config in settings.PARLEY_PROVIDER_ENV.items()}
    assert compare_models_validate(user_id=user.pk, models=None) == ["openai/gpt-4o", "gemini/gemini-2.5-pro"]
    settings.PARLEY_PROVIDER_ENV = {slug: {**config, "api_key": ""}
                                    for slug, config in settings.PARLEY_PROVIDER_ENV.items()}
    with pytest.raises(InvalidRequest) as refused:
        compare_models_validate(user_id=user.pk, models=None)
    assert refused.value.detail.code == "no_models"
