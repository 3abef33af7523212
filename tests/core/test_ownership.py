"""Every object endpoint answers 404 to a user who does not own the object, and changes nothing.

To cover a new endpoint, add a row to OBJECT_ENDPOINTS (or FOREIGN_ONLY_ENDPOINTS when the owner's call would
stream or need a provider); `{name}` placeholders are filled from `owned`.
"""
import pytest
from django.urls import resolve

from accounts.models import ApiToken
from accounts.services import api_token_create
from chats.models import Conversation, Generation, Message, Preset
from chats.services import conversation_create, message_create, preset_create
from merging.models import MergeJob
from providers.models import CustomEndpoint, ProviderKey
from providers.services import provider_key_create

pytestmark = pytest.mark.django_db

OBJECT_ENDPOINTS = [
    ("get", "/api/v1/conversations/{conversation}/", None),
    ("patch", "/api/v1/conversations/{conversation}/", {"title": "stolen"}),
    ("delete", "/api/v1/conversations/{conversation}/", None),
    ("get", "/api/v1/conversations/{conversation}/messages/", None),
    ("post", "/api/v1/conversations/{conversation}/messages/", {"content": "injected"}),
    ("delete", "/api/v1/conversations/{conversation}/messages/", None),
    ("get", "/api/v1/presets/{preset}/", None),
    ("patch", "/api/v1/presets/{preset}/", {"name": "stolen"}),
    ("delete", "/api/v1/presets/{preset}/", None),
    ("delete", "/api/v1/keys/{key}/", None),
    ("delete", "/api/v1/tokens/{token}/", None),
]
# Endpoints whose owner call would stream or need a provider: only the foreign call is exercised here.
FOREIGN_ONLY_ENDPOINTS = [
    ("get", "/api/v1/conversations/{conversation}/stream/", None),
    ("post", "/api/v1/conversations/{conversation}/completions/", {"content": "injected"}),
    ("get", "/api/v1/generations/{generation}/", None),
    ("get", "/api/v1/generations/{generation}/stream/", None),
    ("post", "/api/v1/generations/{generation}/cancel/", None),
    ("get", "/api/v1/merges/{merge}/", None),
    ("get", "/api/v1/merges/{merge}/stream/", None),
    ("post", "/api/v1/messages/{message}/select/", None),
    ("post", "/api/v1/keys/{key}/validate/", None),
    ("delete", "/api/v1/endpoints/{endpoint}/", None),
]
ALL_ENDPOINTS = OBJECT_ENDPOINTS + FOREIGN_ONLY_ENDPOINTS


@pytest.fixture
def owned(user):
    """One of each of `user`'s objects, by placeholder name."""
    conversation = conversation_create(owner=user, title="private")
    message = message_create(conversation=conversation, content="private words")
    generation = Generation.objects.create(owner=user, conversation=conversation, model="openai/gpt-4o")
    merge = MergeJob.objects.create(owner=user, kind="conversations", model="openai/gpt-4o", request_digest="x")
    token, _ = api_token_create(user=user, name="private")
    return {
        "conversation": conversation,
        "message": message,
        "generation": generation,
        "merge": merge,
        "preset": preset_create(owner=user, name="private"),
        "key": provider_key_create(owner=user, provider="openai", api_key="sk-private-key-0000000000"),
        "token": token,
        "endpoint": CustomEndpoint.objects.create(owner=user, slug="private", name="private",
                                                  base_url="https://llm.example.com/v1"),
    }


def snapshot(user) -> dict:
    return {
        "conversations": list(Conversation.objects.filter(owner=user).values_list("title", "updated_at")),
        "messages": list(Message.objects.filter(conversation__owner=user).values_list("content", flat=True)),
        "presets": list(Preset.objects.filter(owner=user).values_list("name", flat=True)),
        "keys": list(ProviderKey.objects.filter(owner=user).values_list("pk", flat=True)),
        "tokens": list(ApiToken.objects.filter(user=user).values_list("pk", flat=True)),
        "endpoints": list(CustomEndpoint.objects.filter(owner=user).values_list("pk", flat=True)),
    }


@pytest.mark.parametrize("method, path, body", ALL_ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ALL_ENDPOINTS])
def test_another_users_object_is_404_and_untouched(user, other_api, owned, method, path, body):
    before = snapshot(user)
    url = path.format(**{name: obj.pk for name, obj in owned.items()})
    # The route must exist: a 404 from the catch-all for unknown paths would prove nothing.
    assert resolve(url).url_name != "api-not-found", f"{url} is not routed"
    response = getattr(other_api, method)(url, body, format="json")
    assert response.status_code == 404, (url, response.content)
    assert response.json()["code"] == "not_found"
    assert snapshot(user) == before


@pytest.mark.parametrize("method, path, body", OBJECT_ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in OBJECT_ENDPOINTS])
def test_the_owner_reaches_the_same_endpoints(api, owned, method, path, body):
    url = path.format(**{name: obj.pk for name, obj in owned.items()})
    response = getattr(api, method)(url, body, format="json")
    assert response.status_code < 400, (url, response.content)


@pytest.mark.parametrize("path", ["/api/v1/conversations/", "/api/v1/presets/", "/api/v1/keys/", "/api/v1/tokens/"])
def test_lists_hold_only_the_callers_objects(other_api, owned, path):
    response = other_api.get(path)
    assert response.status_code == 200
    own_token_only = path.endswith("tokens/")
    assert response.json()["count"] == (1 if own_token_only else 0)
    assert "private" not in response.content.decode()
