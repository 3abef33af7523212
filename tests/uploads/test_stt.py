"""`POST /api/v1/stt/deepgram/token/` against the fake Deepgram: a token for the browser, the key never shown."""
import logging

import pytest

pytestmark = pytest.mark.django_db

URL = "/api/v1/stt/deepgram/token/"
KEY = "dg-secret-key-0123456789abcdef"


@pytest.fixture(autouse=True)
def fresh_throttle(user, other_user):
    """Throttle counts live in the cache (Redis with services); a user id may recur in another test's database."""
    from django.core.cache import cache

    from uploads.speech import SttTokenThrottle

    throttle = SttTokenThrottle
    keys = [throttle.cache_format % {"scope": throttle.scope, "ident": u.pk} for u in (user, other_user)]
    cache.delete_many(keys)
    yield
    cache.delete_many(keys)


@pytest.fixture
def deepgram(fake_provider, settings):
    settings.DEEPGRAM_API_KEY = KEY
    settings.DEEPGRAM_BASE_URL = f"{fake_provider.url}/deepgram"
    settings.PARLEY_STT_TOKEN_TTL = 45
    return fake_provider


def test_a_token_is_minted_with_the_servers_key(api, deepgram, caplog):
    caplog.set_level(logging.DEBUG)
    response = api.post(URL)
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"access_token", "expires_in"}
    assert body["access_token"].startswith("fake-dg-") and body["expires_in"] == 45
    (grant,) = [r for r in deepgram.requests() if r["path"] == "/deepgram/v1/auth/grant"]
    assert grant["headers"]["authorization"] == f"Token {KEY}" and grant["json"] == {"ttl_seconds": 45}
    assert KEY not in response.content.decode() and KEY not in caplog.text


def test_deepgram_refusing_is_502_without_the_key(api, deepgram, settings, caplog):
    settings.DEEPGRAM_API_KEY = "bad-key"
    caplog.set_level(logging.DEBUG)
    response = api.post(URL)
    assert response.status_code == 502 and response.json()["code"] == "stt_refused"
    assert "bad-key" not in response.content.decode() and "bad-key" not in caplog.text


def test_deepgram_unreachable_is_502(api, settings):
    settings.DEEPGRAM_API_KEY = KEY
    settings.DEEPGRAM_BASE_URL = "http://127.0.0.1:9"  # discard port: nothing listens
    response = api.post(URL)
    assert response.status_code == 502 and response.json()["code"] == "stt_unreachable"


def test_not_configured_is_503(api, settings):
    settings.DEEPGRAM_API_KEY = ""
    response = api.post(URL)
    assert response.status_code == 503 and response.json()["code"] == "stt_not_configured"


def test_tokens_are_throttled_per_user(api, other_api, deepgram, settings):
    settings.PARLEY_STT_TOKENS_PER_MINUTE = 2
    assert [api.post(URL).status_code for _ in range(2)] == [200, 200]
    refused = api.post(URL)
    assert refused.status_code == 429 and refused.json()["code"] == "throttled"
    assert int(refused["Retry-After"]) > 0
    assert other_api.post(URL).status_code == 200  # another user has a budget of their own


def test_only_post_and_only_signed_in(api, client, deepgram):
    assert api.get(URL).status_code == 405
    assert client.post(URL).status_code == 401


def test_pages_allow_the_deepgram_socket_only_when_configured(client, user, settings):
    client.force_login(user)
    settings.DEEPGRAM_API_KEY = ""
    page = client.get("/")
    assert "deepgram" not in page["Content-Security-Policy"] and b'id="mic-btn"' not in page.content
    settings.DEEPGRAM_API_KEY = KEY
    settings.DEEPGRAM_BASE_URL = "https://api.deepgram.com"
    page = client.get("/")
    connect = next(d for d in page["Content-Security-Policy"].split("; ") if d.startswith("connect-src"))
    assert connect.endswith(" wss://api.deepgram.com")
    assert b'id="mic-btn"' in page.content and b"wss://api.deepgram.com/v1/listen" in page.content
    assert KEY.encode() not in page.content
