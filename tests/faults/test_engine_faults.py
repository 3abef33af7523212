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
