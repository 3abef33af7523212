"""Origins: a WebSocket is accepted from exactly the request's own origin or CSRF_TRUSTED_ORIGINS, whatever
ALLOWED_HOSTS says; session requests that start work must be same-origin (Fetch Metadata, else Origin/Referer),
while Bearer clients and Origin-less clients are unaffected."""
import json

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from chats.models import Conversation, Message
from chats.services import conversation_create, message_create
from config.websocket_origin import origin_allowed


def scope(origin: str | None, host: str = "chat.example.com", scheme: str = "wss") -> dict:
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    return {"type": "websocket", "scheme": scheme, "headers": headers}


@pytest.mark.parametrize("allowed_hosts", [["*"], ["chat.example.com", ".example.com"]])
def test_only_the_exact_own_origin_is_accepted(settings, allowed_hosts):
    settings.ALLOWED_HOSTS = allowed_hosts
    settings.CSRF_TRUSTED_ORIGINS = []
    assert origin_allowed(scope("https://chat.example.com"))
    assert origin_allowed(scope("https://chat.example.com:443"))
    assert origin_allowed(scope(None))  # a non-session client: authentication decides
    for other in ("http://chat.example.com", "https://chat.example.com:8443", "https://evil.example",
                  "https://other.example.com", "null", "https://chat.example.com.evil.example", "garbage"):
        assert not origin_allowed(scope(other)), other


def test_port_and_scheme_come_from_the_request(settings):
    settings.ALLOWED_HOSTS = ["*"]
    assert origin_allowed(scope("http://127.0.0.1:8000", host="127.0.0.1:8000", scheme="ws"))
    assert not origin_allowed(scope("http://127.0.0.1:9000", host="127.0.0.1:8000", scheme="ws"))
    assert not origin_allowed(scope("https://127.0.0.1:8000", host="127.0.0.1:8000", scheme="ws"))


def test_csrf_trusted_origins_are_accepted_with_wildcards(settings):
    settings.ALLOWED_HOSTS = ["*"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.org", "https://*.corp.example"]
    assert origin_allowed(scope("https://app.example.org"))
    assert origin_allowed(scope("https://team.corp.example"))
    assert not origin_allowed(scope("http://team.corp.example"))
    assert not origin_allowed(scope("https://corp.example.evil"))


@pytest.mark.django_db(transaction=True)
async def test_live_socket_refuses_another_port_of_an_allowed_host(live_asgi, fake_provider, user, settings):
    from asgiref.sync import sync_to_async

    from accounts.services import api_token_create

    settings.ALLOWED_HOSTS = ["*"]
    _, token = await sync_to_async(api_token_create)(user=user, name="ws")
    conversation = await sync_to_async(conversation_create)(owner=user, default_model="openai/story-3-0")
    url = f"{live_asgi.ws_url}/ws/conversations/{conversation.pk}/"
    other_port = live_asgi.url.rsplit(":", 1)[0] + ":1"
    for origin in (other_port, "https://evil.example"):
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(url, origin=origin, additional_headers={"Authorization": f"Bearer {token}"}):
                pass
        assert refused.value.response.status_code == 403
    async with websockets.connect(url, origin=live_asgi.url,
                                  additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        await ws.send(json.dumps({"type": "cancel"}))
        assert json.loads(await ws.recv())["type"] == "error"


# --- session requests that start work ------------------------------------------------------------------------------

CROSS_SITE = [
    {"HTTP_SEC_FETCH_SITE": "cross-site"},
    {"HTTP_SEC_FETCH_SITE": "same-site"},
    {"HTTP_ORIGIN": "https://evil.example"},
    {"HTTP_ORIGIN": "null"},
    {"HTTP_REFERER": "https://evil.example/page"},
]
SAME_ORIGIN = [
    {"HTTP_SEC_FETCH_SITE": "same-origin"},
    {"HTTP_SEC_FETCH_SITE": "none"},
    {"HTTP_ORIGIN": "http://testserver"},
    {"HTTP_REFERER": "http://testserver/c/1/"},
    {},
]


@pytest.fixture
def conversation(user):
    conversation = conversation_create(owner=user, default_model="openai/echo")
    message_create(conversation=conversation, content="Hello")
    return conversation


def csrf(session) -> dict:
    return {"HTTP_X_CSRFTOKEN": session.cookies["csrftoken"].value}


@pytest.mark.parametrize("headers", CROSS_SITE)
def test_a_cross_site_get_of_stream_starts_nothing(session, conversation, fake_provider, headers):
    answer = session.get(f"/api/v1/conversations/{conversation.pk}/stream/", **headers)
    assert answer.status_code == 403
    assert answer.json()["code"] == "cross_site"
    assert not Message.objects.filter(conversation=conversation, role="assistant").exists()


@pytest.mark.parametrize("headers", CROSS_SITE)
def test_cross_site_session_posts_that_start_work_are_refused(session, conversation, fake_provider, headers):
    for path, body in ((f"/api/v1/conversations/{conversation.pk}/completions/", {"content": "hi"}),
                       ("/api/v1/chat/stream/", {"model": "openai/echo", "messages": [{"role": "user",
                                                                                      "content": "hi"}]}),
                       ("/api/v1/compare/", {"prompt": "hi", "models": ["openai/echo"]}),
                       ("/api/v1/merges/", {"conversation_ids": [str(conversation.pk)] * 2, "model": "openai/echo"}),
                       ("/api/v1/conversations/", {"title": "x"})):
        answer = session.post(path, json.dumps(body), content_type="application/json", **csrf(session), **headers)
        assert answer.status_code == 403, (path, answer.content)
        assert answer.json()["code"] == "cross_site"
    assert Conversation.objects.count() == 1
    assert Message.objects.filter(conversation=conversation).count() == 1


@pytest.mark.parametrize("headers", SAME_ORIGIN)
def test_same_origin_session_requests_work(session, conversation, fake_provider, headers):
    answer = session.post("/api/v1/conversations/", json.dumps({"title": "mine"}), content_type="application/json",
                          **csrf(session), **headers)
    assert answer.status_code == 201, answer.content
    answer = session.post(f"/api/v1/conversations/{conversation.pk}/messages/", json.dumps({"content": "more"}),
                          content_type="application/json", **csrf(session), **headers)
    assert answer.status_code == 201, answer.content


def test_bearer_clients_are_unaffected_by_origin_headers(api, conversation, fake_provider):
    answer = api.post("/api/v1/conversations/", {"title": "x"}, format="json", HTTP_SEC_FETCH_SITE="cross-site",
                      HTTP_ORIGIN="https://evil.example")
    assert answer.status_code == 201


def test_a_trusted_frontend_origin_may_start_work(session, conversation, fake_provider, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.org"]
    answer = session.post("/api/v1/conversations/", json.dumps({"title": "x"}), content_type="application/json",
                          HTTP_SEC_FETCH_SITE="cross-site", HTTP_ORIGIN="https://app.example.org", **csrf(session))
    assert answer.status_code == 201, answer.content
    answer = session.post("/api/v1/conversations/", json.dumps({"title": "x"}), content_type="application/json",
                          HTTP_SEC_FETCH_SITE="cross-site", HTTP_ORIGIN="https://evil.example", **csrf(session))
    assert answer.status_code == 403 and answer.json()["code"] == "cross_site"
