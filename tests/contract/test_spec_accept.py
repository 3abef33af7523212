"""SPEC §3/§4 with the Accept headers real clients send: SSE clients `text/event-stream`, browsers `text/html`."""
import json

import pytest

from merging.models import MergeJob

pytestmark = pytest.mark.django_db

SSE_ACCEPT = "text/event-stream"


def test_merge_stream_accepts_an_sse_client(api, user):
    job = MergeJob.objects.create(owner=user, kind="conversations", model="openai/echo", request_digest="x",
                                  status="failed", error="boom", error_code="upstream_error")
    response = api.get(f"/api/v1/merges/{job.id}/stream/", HTTP_ACCEPT=SSE_ACCEPT)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    response.close()


@pytest.mark.parametrize("accept", [SSE_ACCEPT, "text/html,application/xhtml+xml", "application/xml"])
def test_json_errors_and_lists_whatever_the_accept_header(api, accept):
    missing = api.get("/api/v1/merges/00000000-0000-0000-0000-000000000000/stream/", HTTP_ACCEPT=accept)
    assert missing.status_code == 404
    assert json.loads(missing.content) == {"detail": "Not found.", "code": "not_found"}
    listed = api.get("/api/v1/conversations/", HTTP_ACCEPT=accept)
    assert listed.status_code == 200 and listed["Content-Type"] == "application/json"
    assert "results" in json.loads(listed.content)


def test_anonymous_sse_client_gets_401_json(client):
    response = client.get("/api/v1/merges/00000000-0000-0000-0000-000000000000/stream/", HTTP_ACCEPT=SSE_ACCEPT)
    assert response.status_code == 401
    assert json.loads(response.content)["code"] == "not_authenticated"
