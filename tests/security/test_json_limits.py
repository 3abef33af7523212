"""JSON bodies: over PARLEY_MAX_JSON_BYTES is 413 too_large before being read in full, deeper than 64 levels is
400 too_deep, never a 500: on DRF endpoints and the streaming views, in process and on a real socket."""
import json
import socket
from urllib.parse import urlsplit

import httpx
import pytest

from chats.models import Conversation
from chats.services import conversation_create

DEEP = "[" * 5000 + "]" * 5000


def nested(depth: int) -> dict:
    value: object = "bottom"
    for _ in range(depth - 1):
        value = {"a": value}
    return {"title": "t", "params": value}


def test_depth_over_the_limit_is_400_on_drf_endpoints(api):
    for path in ("/api/v1/conversations/", "/api/v1/presets/", "/api/v1/compare/", "/api/v1/merges/",
                 "/api/v1/keys/", "/api/v1/tokens/"):
        answer = api.post(path, DEEP, content_type="application/json")
        assert answer.status_code == 400, (path, answer.content)
        assert answer.json()["code"] == "too_deep"
    answer = api.post("/api/v1/conversations/", json.dumps(nested(70)), content_type="application/json")
    assert answer.status_code == 400 and answer.json()["code"] == "too_deep"
    assert not Conversation.objects.exists()


def test_depth_within_the_limit_is_judged_as_usual(api):
    answer = api.post("/api/v1/conversations/", json.dumps({"title": "ok", "params": {"a": {"b": 1}}}),
                      content_type="application/json")
    assert answer.status_code in (201, 400)
    assert answer.json().get("code") != "too_deep"


def test_depth_over_the_limit_is_400_on_streaming_views(api, user):
    conversation = conversation_create(owner=user)
    for path in (f"/api/v1/conversations/{conversation.pk}/completions/", "/api/v1/chat/stream/"):
        answer = api.post(path, DEEP, content_type="application/json")
        assert answer.status_code == 400, (path, answer.content)
        assert answer.json()["code"] == "too_deep"


def test_bodies_over_the_limit_are_413(api, user, settings):
    settings.PARLEY_MAX_JSON_BYTES = 2000
    big = json.dumps({"title": "x" * 3000})
    conversation = conversation_create(owner=user)
    for path in ("/api/v1/conversations/", "/api/v1/compare/", f"/api/v1/conversations/{conversation.pk}/messages/",
                 f"/api/v1/conversations/{conversation.pk}/completions/", "/api/v1/chat/stream/"):
        answer = api.post(path, big, content_type="application/json")
        assert answer.status_code == 413, (path, answer.content)
        assert answer.json()["code"] == "too_large"
    assert Conversation.objects.count() == 1


def raw_request(server_url: str, head: str, body: bytes) -> bytes:
    """Send `head` and the start of a body, then read the answer without sending the rest."""
    parts = urlsplit(server_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=20) as sock:
        sock.sendall(head.encode() + body)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


@pytest.mark.django_db(transaction=True)
def test_a_50_mb_body_is_refused_before_it_is_read(live_asgi, api, user):
    from accounts.services import api_token_create

    _, token = api_token_create(user=user, name="big")
    # Only 64 KB of the announced 50 MB are ever sent: an answer at all proves the server did not wait for them.
    head = (f"POST /api/v1/conversations/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {50 * 1024 * 1024}\r\n\r\n")
    answer = raw_request(live_asgi.url, head, b'{"title": "' + b"x" * 65536)
    status_line, _, rest = answer.partition(b"\r\n")
    assert b" 413 " in status_line, answer[:200]
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["code"] == "too_large"


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_is_cut_off_at_the_limit(live_asgi, user):
    from accounts.services import api_token_create

    _, token = api_token_create(user=user, name="big")

    def chunks():
        yield b'{"title": "'
        for _ in range(40):  # 2.5 MB in 64 KB chunks, no Content-Length
            yield b"x" * 65536

    answer = httpx.post(f"{live_asgi.url}/api/v1/conversations/", content=chunks(), timeout=30,
                        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert answer.status_code == 413 and answer.json()["code"] == "too_large"
    assert not Conversation.objects.exists()
