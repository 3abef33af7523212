"""Stored provider keys over REST: added encrypted, listed by hint, deleted; a lost key asks for re-entry."""
import pytest
from django.test import override_settings

from core.encryption import decrypt_secret
from providers.models import CustomEndpoint, ProviderKey
from providers.services import provider_key_create

pytestmark = pytest.mark.django_db

URL = "/api/v1/keys/"
SECRET = "sk-proj-Zq8vTtS3cr3tKeyValue0000a1b2"


def test_add_list_delete(api, user):
    response = api.post(URL, {"provider": "openai", "api_key": SECRET, "label": "work"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "provider", "label", "hint", "created_at", "last_validated_at", "valid",
                         "needs_reentry"}
    assert body["hint"] == "…a1b2" and body["provider"] == "openai" and body["label"] == "work"
    assert body["needs_reentry"] is False and body["valid"] is None
    stored = ProviderKey.objects.get(pk=body["id"])
    assert stored.owner == user and SECRET not in stored.encrypted_secret
    assert decrypt_secret(stored.encrypted_secret) == SECRET
    listed = api.get(URL).json()
    assert [k["id"] for k in listed["results"]] == [body["id"]]
    assert SECRET not in str(listed)
    assert api.delete(f"{URL}{body['id']}/").status_code == 204
    assert not ProviderKey.objects.exists()


def test_list_shows_only_own_keys_not_shared_ones(api, user, other_user):
    provider_key_create(owner=other_user, provider="openai", api_key="sk-theirs-000000000000")
    provider_key_create(owner=None, provider="anthropic", api_key="sk-ant-shared-0000000000")
    mine = provider_key_create(owner=user, provider="gemini", api_key="AIza-mine-000000000000")
    assert [k["id"] for k in api.get(URL).json()["results"]] == [mine.pk]


@pytest.mark.parametrize(
    "payload, code",
    [
        ({"provider": "nosuch", "api_key": SECRET}, "unknown_provider"),
        ({"provider": "openai", "api_key": ""}, "blank"),
        ({"provider": "openai", "api_key": "   "}, "blank"),
        ({"provider": "openai", "api_key": "has a space"}, "invalid_key"),
        ({"provider": "openai", "api_key": "sk-caf\u00e9-0000"}, "invalid_key"),  # a header holds ASCII only
        ({"provider": "openai", "api_key": "sk-\x07bell"}, "invalid_key"),
        ({"provider": "openai"}, "required"),
        ({"provider": "openai", "api_key": SECRET, "owner": 1}, "unknown_field"),
        ({"provider": "openai", "api_key": SECRET, "label": "l" * 101}, "max_length"),
    ],
)
def test_bad_key_input_is_rejected_without_echoing_the_key(api, payload, code):
    response = api.post(URL, payload, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert SECRET not in response.content.decode()
    assert "has a space" not in response.content.decode()
    assert not ProviderKey.objects.exists()


def test_custom_endpoint_slugs_are_known_providers(api, user, other_user):
    CustomEndpoint.objects.create(owner=user, slug="myvllm", name="vLLM", base_url="https://vllm.example.com/v1")
    CustomEndpoint.objects.create(owner=None, slug="gateway", name="Gateway", base_url="https://gw.example.com/v1")
    CustomEndpoint.objects.create(owner=other_user, slug="theirs", name="T", base_url="https://t.example.com/v1")
    assert api.post(URL, {"provider": "myvllm", "api_key": SECRET}, format="json").status_code == 201
    assert api.post(URL, {"provider": "gateway", "api_key": SECRET}, format="json").status_code == 201
    assert api.post(URL, {"provider": "theirs", "api_key": SECRET}, format="json").status_code == 400


@pytest.mark.parametrize("slug", ["openrouter", "openai", "anthropic", "gemini", "xai", "perplexity", "deepseek",
                                  "ollama"])
def test_every_builtin_provider_is_accepted(api, slug):
    assert api.post(URL, {"provider": slug, "api_key": SECRET}, format="json").status_code == 201


def test_key_under_a_dropped_encryption_key_needs_reentry_not_a_500(api, user):
    old = "f2c0d0mPq5ZmvS0HHn3vx8uGyBwqPv1lBVPPh3B8ZQA="
    with override_settings(PARLEY_ENCRYPTION_KEYS=[old]):
        lost = provider_key_create(owner=user, provider="openai", api_key=SECRET)
    fine = provider_key_create(owner=user, provider="anthropic", api_key="sk-ant-still-fine-9999")
    response = api.get(URL)
    assert response.status_code == 200
    rows = {row["id"]: row for row in response.json()["results"]}
    assert rows[lost.pk]["needs_reentry"] is True and rows[lost.pk]["valid"] is False
    assert rows[lost.pk]["hint"] == "…a1b2"
    assert rows[fine.pk]["needs_reentry"] is False
    assert api.delete(f"{URL}{lost.pk}/").status_code == 204


def test_bad_key_ids_are_404(api):
    assert api.delete(f"{URL}xyz/").status_code == 404
    assert api.delete(f"{URL}12345/").status_code == 404
