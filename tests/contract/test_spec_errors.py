"""SPEC §3 error contract: every /api/ answer is JSON {"detail","code"} with the SPEC status, whatever the method."""
import json

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db
UUID = "00000000-0000-0000-0000-000000000000"


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
@pytest.mark.parametrize("path", ["/api/v1/no-such-app/things/", "/api/v1/no-such-thing/"])
def test_unknown_api_paths_are_a_json_404_for_every_method(method, path):
    # enforce_csrf_checks: like a real client, which has no CSRF cookie.
    client = Client(enforce_csrf_checks=True)
    if method == "get":
        response = client.get(path)
    else:
        response = getattr(client, method)(path, data="{}", content_type="application/json")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


@pytest.mark.parametrize("method", ["get", "post", "delete"])
@pytest.mark.parametrize("path", ["/api/v1/uploads/", f"/api/v1/uploads/{UUID}/", f"/api/v1/uploads/{UUID}/content/",
                                  "/api/v1/stt/deepgram/token/"])
def test_attachment_and_voice_endpoints_need_a_signed_in_caller(method, path):
    response = getattr(Client(enforce_csrf_checks=True), method)(path)
    assert response.status_code == 401
    assert set(response.json()) == {"detail", "code"}


def test_a_session_post_without_csrf_is_a_json_403(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/api/v1/conversations/", data="{}", content_type="application/json")
    assert response.status_code == 403
    assert set(response.json()) >= {"detail", "code"}


def test_the_csrf_failure_view_answers_json_under_api(rf):
    from core.views import csrf_failure

    response = csrf_failure(rf.post("/api/v1/anything/"), reason="CSRF cookie not set.")
    assert response.status_code == 403
    assert json.loads(response.content)["code"] == "csrf_failed"
    assert csrf_failure(rf.post("/login/"), reason="x")["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/api/v1/conversations/", "/api/v1/providers/", "/api/v1/models/",
                                  "/api/v1/keys/", "/api/v1/presets/", "/api/v1/merges/"])
def test_anonymous_requests_are_401_not_403(path):
    response = Client().get(path)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", ["/api/v1/conversations/{cid}/completions/", "/api/v1/chat/stream/",
                                  "/api/v1/compare/"])
def test_a_body_over_the_upload_limit_is_a_json_413(api, user, settings, path):
    from chats.services import conversation_create

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    settings.DEBUG = True  # as under `make run`, where Django would answer its HTML 400 page
    conversation = conversation_create(owner=user)
    body = {"content": "x" * 20_000} if "{cid}" in path else {"prompt": "x" * 20_000}
    if "chat/stream" in path:
        body = {"model": "openai/echo", "messages": [{"role": "user", "content": "x" * 20_000}]}
    response = api.post(path.format(cid=conversation.id), body, format="json")
    assert response.status_code == 413
    assert json.loads(response.content)["code"] == "too_large"


def test_bad_request_handler_is_json_under_api(rf):
    from django.core.exceptions import RequestDataTooBig, SuspiciousOperation

    from core.views import bad_request

    assert bad_request(rf.post("/api/v1/compare/"), RequestDataTooBig()).status_code == 413
    response = bad_request(rf.get("/api/v1/health/"), SuspiciousOperation())
    assert response.status_code == 400 and json.loads(response.content)["code"] == "bad_request"


@pytest.mark.parametrize("path", ["/api/v1/conversations/", f"/api/v1/generations/{UUID}/stream/",
                                  f"/api/v1/merges/{UUID}/stream/"])
def test_a_bad_token_is_the_same_401_on_every_endpoint(path):
    response = Client().get(path, HTTP_AUTHORIZATION="Bearer pk_not-a-real-token")
    assert response.status_code == 401
    assert json.loads(response.content)["code"] == "authentication_failed"
    assert response["WWW-Authenticate"].startswith("Bearer")
