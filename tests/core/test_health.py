"""GET /api/v1/health/: what runs and what is configured, anonymously; the caller's counts when signed in."""
import pytest
from django.test import override_settings

from chats.services import conversation_create, message_create
from providers.services import provider_key_create

pytestmark = pytest.mark.django_db

BUILTINS = {"openrouter", "openai", "anthropic", "gemini", "xai", "perplexity", "deepseek", "ollama"}
NO_ENV_KEYS = {slug: {"api_key": "", "base_url": ""} for slug in BUILTINS}


@override_settings(PARLEY_PROVIDER_ENV=NO_ENV_KEYS)
def test_anonymous_callers_get_the_status_only(client, settings):
    from providers.models import CustomEndpoint

    # A shared endpoint (owner None) is in the signed-in list; an anonymous caller learns nothing of it.
    CustomEndpoint.objects.create(owner=None, slug="office-vllm", name="Office vLLM",
                                  base_url="https://vllm.example.com/v1")
    response = client.get("/api/v1/health/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"status", "version", "database", "channel_layer", "broker"}
    assert "office-vllm" not in response.content.decode() and "openai" not in response.content.decode()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["version"] == settings.PARLEY_VERSION
    expected_layer = "redis" if settings.REDIS_URL else "in-memory"
    assert body["channel_layer"] == expected_layer
    assert body["broker"] == ("redis" if settings.CELERY_BROKER_URL else "embedded")


@override_settings(PARLEY_PROVIDER_ENV=NO_ENV_KEYS)
def test_signed_in_callers_get_default_model_and_providers(api, settings):
    body = api.get("/api/v1/health/").json()
    assert body["default_model"] == settings.PARLEY_DEFAULT_MODEL
    assert BUILTINS <= set(body["providers"])
    assert not any(body["providers"][slug] for slug in BUILTINS)


def test_env_keys_configure_providers(api):
    env = dict(NO_ENV_KEYS, openai={"api_key": "sk-env-0000000000", "base_url": ""})
    with override_settings(PARLEY_PROVIDER_ENV=env):
        providers = api.get("/api/v1/health/").json()["providers"]
    assert providers["openai"] is True and providers["anthropic"] is False
    assert "sk-env" not in str(providers)


@override_settings(PARLEY_PROVIDER_ENV=NO_ENV_KEYS)
def test_authenticated_callers_get_their_counts_and_own_keys(api, user, other_user, other_api):
    first, second = conversation_create(owner=user), conversation_create(owner=user)
    for text in ("a", "b", "c"):
        message_create(conversation=first, content=text)
    message_create(conversation=second, content="d")
    message_create(conversation=conversation_create(owner=other_user), content="theirs")
    provider_key_create(owner=user, provider="gemini", api_key="AIza-user-key-000000000")
    body = api.get("/api/v1/health/").json()
    assert body["conversations"] == 2 and body["total_messages"] == 4
    assert body["providers"]["gemini"] is True
    theirs = other_api.get("/api/v1/health/").json()
    assert theirs["conversations"] == 1 and theirs["total_messages"] == 1
    assert theirs["providers"]["gemini"] is False


def test_unreachable_redis_is_reported_not_raised(client, settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer"}}
    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"
    response = client.get("/api/v1/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["channel_layer"] == "redis-unreachable" and body["broker"] == "redis-unreachable"


@pytest.mark.services
def test_deployed_configuration_uses_postgresql_and_redis(client):
    from django.db import connection

    assert connection.vendor == "postgresql"
    body = client.get("/api/v1/health/").json()
    assert body["database"] == "ok"
    assert body["channel_layer"] == "redis" and body["broker"] == "redis"
