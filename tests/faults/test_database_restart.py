"""A PostgreSQL outage (the test database's connections killed, new ones refused): API calls answer JSON 503 while
it lasts, and the same web process works again once it is back, on every path (no restart)."""
import json
import uuid

import httpx
import pytest
from websockets.sync.client import connect

from tests.fixtures.fake_provider import fake_provider_env
from tests.fixtures.faults import get_json

pytestmark = [pytest.mark.services, pytest.mark.usefixtures("fake_provider")]


@pytest.fixture
def web(start_web_process, fake_provider):
    # DEBUG on: the outage must still be JSON, never Django's HTML debug page.
    return start_web_process(DEBUG="true", **fake_provider_env(fake_provider))


def compare_socket(web, token):
    url = web.url.replace("http", "ws", 1) + "/ws/compare/"
    return connect(url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=10)


def answer(socket, frame: dict) -> dict:
    socket.send(json.dumps(frame))
    return json.loads(socket.recv(timeout=20))


def assert_a_compare_works(web, auth) -> None:
    compare = httpx.post(f"{web.url}/api/v1/compare/", headers=auth, timeout=30, json={
        "prompt": "Tell me a story", "models": ["openai/story-8-60", "gemini/echo"]})
    assert compare.status_code == 200, compare.text
    assert [(r["status"], r["content"]) for r in compare.json()["responses"]] == [
        ("complete", "".join(f"w{i} " for i in range(1, 9))), ("complete", "You said: Tell me a story")]


def test_api_calls_are_json_503_during_the_outage_and_work_again_after(web, token, test_database,
                                                                        two_conversations):
    auth = {"Authorization": f"Bearer {token}"}
    created = httpx.post(f"{web.url}/api/v1/conversations/", headers=auth, json={"title": "Before"}, timeout=10)
    assert created.status_code == 201, created.text

    with test_database.down():
        for method, path, body in [("GET", "/api/v1/conversations/", None),
                                   ("POST", "/api/v1/conversations/", {"title": "During"}),
                                   ("GET", f"/api/v1/conversations/{created.json()['id']}/messages/", None),
                                   ("POST", "/api/v1/merges/", {"conversation_ids": [created.json()["id"]] * 2,
                                                                "model": "openai/merge-tagged-4"}),
                                   ("POST", "/api/v1/compare/", {"prompt": "Hi", "models": ["openai/gpt-4o"]}),
                                   ("GET", f"/api/v1/merges/{uuid.uuid4()}/stream/", None)]:
            response = httpx.request(method, f"{web.url}{path}", headers=auth, json=body, timeout=10)
            assert response.status_code == 503, (method, path, response.status_code, response.text[:300])
            assert response.headers["content-type"] == "application/json"
            assert response.json()["code"] == "database_unavailable"
        status, health = get_json(f"{web.url}/api/v1/health/")
        assert status == 503 and health["database"] == "error" and health["status"] == "degraded"

    listed = httpx.get(f"{web.url}/api/v1/conversations/", headers=auth, timeout=10)
    assert listed.status_code == 200 and "Before" in [c["title"] for c in listed.json()["results"]]
    assert httpx.post(f"{web.url}/api/v1/conversations/", headers=auth, json={"title": "After"},
                      timeout=10).status_code == 201
    assert_a_compare_works(web, auth)
    merge = httpx.post(f"{web.url}/api/v1/merges/", headers=auth, timeout=10, json={
        "conversation_ids": [str(c.id) for c in two_conversations], "model": "openai/merge-tagged-4"})
    assert merge.status_code == 202 and merge.json()["status"] == "queued", merge.text
    status, health = get_json(f"{web.url}/api/v1/health/")
    assert status == 200 and health["database"] == "ok"


def test_an_open_websocket_works_again_after_the_connections_were_killed(web, token, test_database):
    # A conversation that does not exist: answered (not_found) only after the database was asked.
    frame = {"type": "compare", "prompt": "Hi", "models": ["openai/gpt-4o"], "conversation_id": str(uuid.uuid4())}
    with compare_socket(web, token) as socket:
        # Answered on asgiref's shared thread, which now holds a connection that the fault kills.
        assert answer(socket, frame)["code"] == "not_found"
        assert test_database.terminate_connections() >= 1
        # Every frame after the fault is answered from the database again, the first one included.
        assert [answer(socket, frame)["code"] for _ in range(3)] == ["not_found"] * 3


def test_asgirefs_shared_thread_reconnects_after_its_connection_was_killed(test_database, user):
    """The thread behind every `sync_to_async` outside a request (lifespan tasks, sweepers) outlives requests, so
    Django's request-time recycling never reaches it: after the fault it must connect again by itself."""
    from asgiref.sync import SyncToAsync
    from django.contrib.auth import get_user_model
    from django.db import OperationalError

    shared = SyncToAsync.single_thread_executor

    def users() -> int:
        return get_user_model().objects.count()

    assert shared.submit(users).result() == 1
    assert test_database.terminate_connections() >= 1
    with pytest.raises(OperationalError):  # the one query that met the killed connection
        shared.submit(users).result()
    assert [shared.submit(users).result() for _ in range(3)] == [1, 1, 1]


def test_a_long_lived_thread_that_revalidates_first_never_meets_the_dead_connection(test_database, user):
    from asgiref.sync import SyncToAsync
    from django.contrib.auth import get_user_model

    from core.db import revalidate_connections

    shared = SyncToAsync.single_thread_executor

    def users() -> int:
        revalidate_connections()
        return get_user_model().objects.count()

    assert shared.submit(users).result() == 1
    assert test_database.terminate_connections() >= 1
    assert [shared.submit(users).result() for _ in range(3)] == [1, 1, 1]
