"""Messages over REST: history in order, adding a user message (content or seed-000's message), clearing."""
import uuid

import pytest
from django.test import override_settings

from chats.models import Message
from chats.services import conversation_create, message_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(user):
    return conversation_create(owner=user)


def url(conversation) -> str:
    return f"/api/v1/conversations/{conversation.pk}/messages/"


MESSAGE_FIELDS = {
    "id", "conversation_id", "role", "content", "reasoning", "model", "status", "error", "error_code",
    "finish_reason", "usage", "cost", "latency_ms", "ttft_ms", "attachments", "metadata", "reply_to",
    "selected", "created_at", "parent_id", "sibling_index", "sibling_count",  # SPEC §8
}


def test_add_a_message_with_content(api, conversation):
    response = api.post(url(conversation), {"content": "Hello there"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == MESSAGE_FIELDS
    assert body["role"] == "user" and body["content"] == "Hello there" and body["status"] == "complete"
    assert body["conversation_id"] == str(conversation.pk)
    assert Message.objects.get(pk=body["id"]).content == "Hello there"


def test_seed_000_message_field_and_model_override(api, conversation):
    response = api.post(url(conversation), {"message": "What is FastAPI?", "model": "openai/gpt-4o"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["content"] == "What is FastAPI?"
    assert response.json()["model"] == "openai/gpt-4o"


def test_content_and_message_together_are_ambiguous(api, conversation):
    response = api.post(url(conversation), {"content": "a", "message": "b"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "ambiguous"


def test_first_message_titles_an_untitled_conversation(api, conversation):
    api.post(url(conversation), {"content": "How do tides work?\nAnd why twice a day?"}, format="json")
    conversation.refresh_from_db()
    assert conversation.title == "How do tides work?"


@pytest.mark.parametrize("payload", [{"content": ""}, {"content": "   \n\t "}, {"message": "  "}, {}])
def test_empty_or_whitespace_messages_are_rejected(api, conversation, payload):
    response = api.post(url(conversation), payload, format="json")
    assert response.status_code == 400
    assert response.json()["code"] in {"blank", "required"}
    assert not Message.objects.exists()


@pytest.mark.parametrize("model", ["gpt-4o", "openai/", "unknownprovider/foo", "openai/has space"])
def test_model_override_must_be_provider_slash_model(api, conversation, model):
    response = api.post(url(conversation), {"content": "hi", "model": model}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] in {"invalid_model", "unknown_provider"}
    assert not Message.objects.exists()


@override_settings(PARLEY_MAX_MESSAGE_CHARS=100)
def test_oversized_message_is_413_too_large(api, conversation):
    response = api.post(url(conversation), {"content": "x" * 101}, format="json")
    assert response.status_code == 413
    assert response.json() == {"detail": "A message holds at most 100 characters.", "code": "too_large"}
    assert not Message.objects.exists()
    assert api.post(url(conversation), {"content": "x" * 100}, format="json").status_code == 201


def test_unknown_field_and_invalid_json(api, conversation):
    unknown = api.post(url(conversation), {"content": "hi", "temperature": 1}, format="json")
    assert unknown.status_code == 400 and unknown.json()["code"] == "unknown_field"
    broken = api.post(url(conversation), data="{not json", content_type="application/json")
    assert broken.status_code == 400 and broken.json()["code"] == "parse_error"
    assert not Message.objects.exists()


def test_history_is_in_order_and_paginated(api, conversation):
    for i in range(23):
        message_create(conversation=conversation, content=f"m{i}")
    first = api.get(url(conversation)).json()
    assert first["count"] == 23
    assert [m["content"] for m in first["results"]] == [f"m{i}" for i in range(20)]
    second = api.get(url(conversation), {"page": 2}).json()
    assert [m["content"] for m in second["results"]] == ["m20", "m21", "m22"]


def test_clear_deletes_messages_but_keeps_the_conversation(api, conversation):
    message_create(conversation=conversation, content="one")
    message_create(conversation=conversation, content="two")
    assert api.delete(url(conversation)).status_code == 204
    assert api.get(url(conversation)).json()["count"] == 0
    assert api.get(f"/api/v1/conversations/{conversation.pk}/").status_code == 200


def test_non_uuid_conversation_id_is_json_404(api):
    for method in ("get", "post", "delete"):
        response = getattr(api, method)("/api/v1/conversations/nope/messages/", {"content": "x"}, format="json")
        assert response.status_code == 404 and response.json()["code"] == "not_found"


@pytest.mark.parametrize(
    "payload, code",
    [
        ({"content": "h\u0000i"}, "null_characters_not_allowed"),
        ({"content": "hi", "attachments": [{"name": "a\u0000b"}]}, "invalid_attachment"),
        ({"content": "hi", "attachments": [1, 2]}, "invalid_attachment"),
        ({"content": "hi", "attachments": ["x" * 70_000]}, "invalid_attachment"),
        ({"content": "hi", "attachments": "not a list"}, "invalid_attachment"),
        ({"content": "hi", "attachments": [str(uuid.uuid4()) for _ in range(21)]}, "too_many_attachments"),
    ],
)
def test_unstorable_input_is_400_not_a_database_error(api, conversation, payload, code):
    response = api.post(url(conversation), payload, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert not Message.objects.exists()
