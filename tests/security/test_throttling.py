"""Throttling over the cache: the API per user and per address, scoped limits on catalog refresh and key
validation, the streaming views, and failed sign-ins per account and per address. 429 is {"detail","code":
"throttled"} with Retry-After. Rates are overridden with small numbers here."""
import pytest
from django.test import Client
from rest_framework.test import APIClient

from chats.services import conversation_create, message_create
from core.throttling import parse_rate
from providers.services import provider_key_create
from tests.conftest import token_client

PASSWORD = "correct horse battery staple"


def assert_throttled(answer):
    assert answer.status_code == 429, answer.content
    assert answer.json()["code"] == "throttled" and answer.json()["detail"]
    assert int(answer["Retry-After"]) >= 1


def test_rates_read_like_drf_and_with_a_window():
    assert parse_rate("600/min") == (600, 60)
    assert parse_rate("10/15min") == (10, 900)
    assert parse_rate("5/s") == (5, 1)
    assert parse_rate("100/2h") == (100, 7200)
    with pytest.raises(ValueError):
        parse_rate("lots")


def test_the_api_is_throttled_per_user(api, other_api, settings):
    settings.PARLEY_API_RATE_USER = "3/min"
    for _ in range(3):
        assert api.get("/api/v1/conversations/").status_code == 200
    assert_throttled(api.get("/api/v1/conversations/"))
    assert_throttled(api.post("/api/v1/conversations/", {"title": "x"}, format="json"))
    # Another user has a budget of their own.
    assert other_api.get("/api/v1/conversations/").status_code == 200


def test_a_users_tokens_share_one_budget(user, settings):
    settings.PARLEY_API_RATE_USER = "2/min"
    first, second = token_client(user), token_client(user)
    assert first.get("/api/v1/conversations/").status_code == 200
    assert second.get("/api/v1/conversations/").status_code == 200
    assert_throttled(first.get("/api/v1/conversations/"))


def test_anonymous_callers_are_throttled_per_address(db, settings):
    settings.PARLEY_API_RATE_ANON = "2/min"
    here, elsewhere = APIClient(REMOTE_ADDR="203.0.113.7"), APIClient(REMOTE_ADDR="198.51.100.9")
    assert here.get("/api/v1/health/").status_code == 200
    assert here.get("/api/v1/health/").status_code == 200
    assert_throttled(here.get("/api/v1/health/"))
    # A forged X-Forwarded-For does not buy a new budget (no proxy is trusted by default).
    assert_throttled(here.get("/api/v1/health/", HTTP_X_FORWARDED_FOR="192.0.2.1"))
    assert elsewhere.get("/api/v1/health/").status_code == 200


def test_catalog_refresh_has_its_own_lower_limit(api, fake_provider, settings):
    settings.PARLEY_CATALOG_REFRESH_RATE = "2/min"
    assert api.get("/api/v1/models/?refresh=1").status_code == 200
    assert api.get("/api/v1/models/?refresh=1").status_code == 200
    requests_before = len(fake_provider.requests())
    assert_throttled(api.get("/api/v1/models/?refresh=1"))
    assert len(fake_provider.requests()) == requests_before  # nothing went upstream
    # Reading the cached catalog is not a refresh.
    assert api.get("/api/v1/models/").status_code == 200


def test_key_validation_has_its_own_lower_limit(api, user, fake_provider, settings):
    settings.PARLEY_KEY_VALIDATION_RATE = "2/min"
    key = provider_key_create(owner=user, provider="openai", api_key="sk-alice-valid-key-1")
    for _ in range(2):
        assert api.post(f"/api/v1/keys/{key.pk}/validate/").status_code == 200
    assert_throttled(api.post(f"/api/v1/keys/{key.pk}/validate/"))
    assert api.get("/api/v1/keys/").status_code == 200


def test_streaming_views_count_against_the_users_rate(api, user, fake_provider, settings):
    settings.PARLEY_API_RATE_USER = "2/min"
    conversation = conversation_create(owner=user, default_model="openai/echo")
    message_create(conversation=conversation, content="Hello")
    assert api.get("/api/v1/conversations/").status_code == 200
    assert api.get(f"/api/v1/generations/{'0' * 8}-0000-0000-0000-{'0' * 12}/").status_code == 404
    for path, method in ((f"/api/v1/conversations/{conversation.pk}/stream/", "get"),
                         ("/api/v1/chat/stream/", "post"), ("/api/v1/compare/", "post")):
        answer = getattr(api, method)(path, {"prompt": "x"} if method == "post" else None, format="json")
        assert_throttled(answer)
    assert not conversation.messages.filter(role="assistant").exists()


# --- sign-in ----------------------------------------------------------------------------------------------------------

def sign_in(client: Client, username: str, password: str):
    return client.post("/login/", {"username": username, "password": password})


def test_after_the_limit_even_the_right_password_is_refused(user, settings):
    settings.PARLEY_LOGIN_ATTEMPTS = 3
    client = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(3):
        assert sign_in(client, "alice", "wrong").status_code == 200
    refused = sign_in(client, "alice", PASSWORD)
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert b"Too many failed sign-ins" in refused.content
    assert "_auth_user_id" not in client.session
    # From another address too: the account itself is locked for the window.
    assert sign_in(Client(REMOTE_ADDR="198.51.100.9"), "alice", PASSWORD).status_code == 429


def test_the_window_passing_lets_the_right_password_in(user, settings, monkeypatch):
    import time

    from core.throttling import FailedLoginThrottle

    settings.PARLEY_LOGIN_ATTEMPTS = 2
    client = Client()
    sign_in(client, "alice", "wrong")
    sign_in(client, "alice", "wrong")
    assert sign_in(client, "alice", PASSWORD).status_code == 429
    # The counters' clock moves past the 15-minute window (rather than the test sleeping through it).
    later = time.time() + settings.PARLEY_LOGIN_WINDOW_SECONDS + 1
    monkeypatch.setattr(FailedLoginThrottle, "timer", staticmethod(lambda: later))
    assert sign_in(client, "alice", PASSWORD).status_code == 302


def test_one_address_guessing_many_accounts_is_stopped(make_user, settings):
    settings.PARLEY_LOGIN_ATTEMPTS = 3
    for name in ("ann", "bob", "cy", "dee"):
        make_user(name)
    client = Client(REMOTE_ADDR="203.0.113.7")
    for name in ("ann", "bob", "cy"):
        assert sign_in(client, name, "wrong").status_code == 200
    assert sign_in(client, "dee", PASSWORD).status_code == 429
    assert sign_in(Client(REMOTE_ADDR="198.51.100.9"), "dee", PASSWORD).status_code == 302


def test_successful_sign_ins_do_not_count(user, settings):
    settings.PARLEY_LOGIN_ATTEMPTS = 2
    for _ in range(4):
        client = Client()
        assert sign_in(client, "alice", PASSWORD).status_code == 302


def test_a_mistyped_rate_is_refused_at_start_up():
    import os
    import subprocess
    import sys

    from tests.fixtures.live_server import ROOT

    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], capture_output=True, text=True,
                            cwd=ROOT, env={"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "config.settings.test",
                                           "PARLEY_API_RATE_USER": "lots"})
    assert result.returncode != 0 and "PARLEY_API_RATE_USER: A rate looks like 600/min" in result.stderr


def test_the_admin_signs_in_through_the_throttled_page(user, settings):
    settings.PARLEY_LOGIN_ATTEMPTS = 1
    client = Client()
    answer = client.get("/admin/login/?next=/admin/")
    assert answer.status_code == 302 and answer["Location"] == "/login/?next=/admin/"
    sign_in(client, "alice", "wrong")
    assert sign_in(client, "alice", PASSWORD).status_code == 429
