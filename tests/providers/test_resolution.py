"""Which key and base URL a model name resolves to, and where a user's endpoint may connect."""
import asyncio

import pytest

from providers import errors
from providers.gateway import configured_providers, resolve_route
from providers.models import CustomEndpoint, ProviderKey
from providers.services import provider_key_create
from providers.transport import address_blocked
from tests.providers.streaming import collect

pytestmark = pytest.mark.django_db


def test_model_names_split_at_the_first_slash(fake_provider):
    route = resolve_route(model="openrouter/openai/gpt-4o", user_id=None)
    assert (route.provider, route.model_id, route.protocol) == ("openrouter", "openai/gpt-4o", "openai_chat")
    assert route.base_url == f"{fake_provider.url}/openrouter"


@pytest.mark.parametrize("bad", ["gpt-4o", "", "/gpt-4o", "openai/", "openai"])
def test_invalid_model_names(bad):
    with pytest.raises(errors.InvalidModelName):
        resolve_route(model=bad, user_id=None)


def test_unknown_provider(fake_provider):
    with pytest.raises(errors.UnknownProvider):
        resolve_route(model="nosuch/model", user_id=None)


def test_not_configured_without_any_key(settings):
    settings.PARLEY_PROVIDER_ENV = {}
    with pytest.raises(errors.ProviderNotConfigured) as caught:
        resolve_route(model="anthropic/claude-sonnet-4-5", user_id=None)
    assert "ANTHROPIC_API_KEY" in caught.value.message
    route = resolve_route(model="ollama/llama3.2", user_id=None)  # Ollama needs no key
    assert route.api_key == "" and route.base_url == "http://localhost:11434/v1"


def test_default_base_urls_from_the_spec(settings):
    settings.PARLEY_PROVIDER_ENV = {slug: {"api_key": "k-0123456789", "base_url": ""} for slug in (
        "openrouter", "openai", "anthropic", "gemini", "xai", "perplexity", "deepseek")}
    expected = {"openrouter": "https://openrouter.ai/api/v1", "openai": "https://api.openai.com/v1",
                "anthropic": "https://api.anthropic.com", "gemini": "https://generativelanguage.googleapis.com",
                "xai": "https://api.x.ai/v1", "perplexity": "https://api.perplexity.ai",
                "deepseek": "https://api.deepseek.com"}
    for slug, url in expected.items():
        assert resolve_route(model=f"{slug}/m", user_id=None).base_url == url


def test_key_order_user_then_shared_then_env(fake_provider, user, other_user):
    route = resolve_route(model="openai/echo", user_id=user.pk)
    assert (route.api_key, route.key_source) == ("test-key-openai", "env")
    provider_key_create(owner=None, provider="openai", api_key="shared-key-0001")
    route = resolve_route(model="openai/echo", user_id=user.pk)
    assert (route.api_key, route.key_source) == ("shared-key-0001", "shared")
    provider_key_create(owner=user, provider="openai", api_key="user-key-old-0002")
    provider_key_create(owner=user, provider="openai", api_key="user-key-new-0003")
    route = resolve_route(model="openai/echo", user_id=user.pk)
    assert (route.api_key, route.key_source) == ("user-key-new-0003", "user")
    # Someone else's key is never used.
    assert resolve_route(model="openai/echo", user_id=other_user.pk).api_key == "shared-key-0001"
    assert configured_providers(user.pk)["openai"] == "user"
    assert configured_providers(other_user.pk)["openai"] == "shared"


def test_the_users_key_is_the_one_sent(fake_provider, user):
    provider_key_create(owner=user, provider="anthropic", api_key="user-anthropic-key-0004")
    collect(resolve_route(model="anthropic/echo", user_id=user.pk))
    (request,) = [r for r in fake_provider.requests() if r["path"] == "/anthropic/v1/messages"]
    assert request["headers"]["x-api-key"] == "user-anthropic-key-0004"


def test_undecryptable_key_asks_to_reenter(fake_provider, user):
    key = provider_key_create(owner=user, provider="openai", api_key="user-key-0005")
    ProviderKey.objects.filter(pk=key.pk).update(encrypted_secret="gAAAAABnot-a-valid-token")
    with pytest.raises(errors.KeyUndecryptable) as caught:
        resolve_route(model="openai/echo", user_id=user.pk)
    assert "re-enter" in caught.value.message


def test_shared_custom_endpoint_streams_with_its_own_key(fake_provider, user):
    endpoint = CustomEndpoint(owner=None, slug="lab", name="Lab", base_url=f"{fake_provider.url}/lab")
    endpoint.set_secret("lab-endpoint-key-0006")
    endpoint.save()
    route = resolve_route(model="lab/org/story-3-0", user_id=user.pk)
    assert (route.model_id, route.key_source, route.user_endpoint) == ("org/story-3-0", "shared", False)
    outcome = collect(route)
    assert outcome.error is None and outcome.text == "w1 w2 w3 "
    (request,) = [r for r in fake_provider.requests() if r["path"] == "/lab/chat/completions"]
    assert request["headers"]["authorization"] == "Bearer lab-endpoint-key-0006"


def test_a_users_own_endpoint_never_receives_shared_or_env_keys(fake_provider, user, other_user):
    provider_key_create(owner=None, provider="mine", api_key="admin-shared-key-0007")
    CustomEndpoint.objects.create(owner=user, slug="mine", name="Mine", base_url="https://example.com/v1",
                                  encrypted_secret="", hint="")
    route = resolve_route(model="mine/m", user_id=user.pk)
    assert route.api_key == "" and route.user_endpoint is True
    provider_key_create(owner=user, provider="mine", api_key="user-own-key-0008")
    assert resolve_route(model="mine/m", user_id=user.pk).api_key == "user-own-key-0008"
    with pytest.raises(errors.UnknownProvider):  # another user's endpoint does not exist for them
        resolve_route(model="mine/m", user_id=other_user.pk)


def test_a_users_endpoint_is_checked_on_every_connect(fake_provider, user):
    # Saved directly (as if DNS had pointed elsewhere at save time): the connect-time guard still refuses.
    CustomEndpoint.objects.create(owner=user, slug="sneaky", name="S", base_url=f"{fake_provider.url}/sneaky",
                                  encrypted_secret="", hint="")
    outcome = collect(resolve_route(model="sneaky/echo", user_id=user.pk))
    assert isinstance(outcome.error, errors.BlockedEndpoint)
    assert not [r for r in fake_provider.requests() if r["path"].startswith("/sneaky/")]


def test_a_users_endpoint_cannot_reach_localhost_by_name(fake_provider, user):
    from providers.base import Route
    from providers.transport import HttpCall, send

    route = Route(provider="x", model="x/m", model_id="m", base_url="http://localhost", user_endpoint=True)

    async def go():
        await send(route, HttpCall("GET", "http://localhost/models"), stream=False)

    with pytest.raises(errors.BlockedEndpoint):
        asyncio.run(go())


@pytest.mark.parametrize(("address", "blocked"), [
    ("127.0.0.1", True), ("10.1.2.3", True), ("172.16.0.1", True), ("192.168.0.1", True), ("169.254.169.254", True),
    ("100.64.0.1", True), ("0.0.0.0", True), ("::1", True), ("fd00:ec2::254", True), ("fe80::1", True),
    ("::ffff:127.0.0.1", True), ("224.0.0.1", True), ("8.8.8.8", False), ("2606:4700:4700::1111", False),
])
def test_blocked_addresses(address, blocked):
    assert address_blocked(address) is blocked
