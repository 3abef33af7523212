"""Conversations over REST: create, list (newest first, paginated, searchable), detail, update, delete."""
import uuid

import pytest
from django.test import override_settings

from chats.models import Conversation, Message
from chats.services import conversation_create, message_create

pytestmark = pytest.mark.django_db

URL = "/api/v1/conversations/"


def test_create_with_defaults(api, user):
    response = api.post(URL, {}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {
        "id", "title", "system_prompt", "default_model", "params",
        "message_count", "created_at", "updated_at", "merged_from",
    }
    assert uuid.UUID(body["id"])
    assert body["message_count"] == 0 and body["merged_from"] == [] and body["params"] == {}
    assert Conversation.objects.get(pk=body["id"]).owner == user


def test_create_with_everything(api):
    payload = {
        "title": "Trip planning",
        "system_prompt": "You are terse.",
        "default_model": "openrouter/openai/gpt-4o",
        "params": {"temperature": 0.2, "max_tokens": 512, "top_p": 0.9, "reasoning_effort": "high",
                   "thinking_budget": 2048},
    }
    response = api.post(URL, payload, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    for field, value in payload.items():
        assert body[field] == value
    assert api.get(f"{URL}{body['id']}/").json()["params"] == payload["params"]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"temperature": 2.5}, "temperature"),
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"temperature": True}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 1.5}, "max_tokens"),
        ({"max_tokens": 10**9}, "max_tokens"),
        ({"top_p": 1.1}, "top_p"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"thinking_budget": "lots"}, "thinking_budget"),
        ({"frequency_penalty": 1}, "frequency_penalty"),
    ],
)
def test_bad_params_are_rejected(api, params, field):
    response = api.post(URL, {"params": params}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert field in body["detail"] and body["code"]
    assert Conversation.objects.count() == 0


def test_params_must_be_an_object(api):
    response = api.post(URL, {"params": [1, 2]}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


@pytest.mark.parametrize(
    "model", ["gpt-4o", "openai/", "/gpt-4o", "no such/model", "nosuchprovider/model-x", "openai/gpt 4o", "x" * 400]
)
def test_default_model_must_be_provider_slash_model(api, model):
    response = api.post(URL, {"default_model": model}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] in {"invalid_model", "unknown_provider", "max_length"}


def test_unknown_field_is_rejected(api):
    response = api.post(URL, {"title": "x", "colour": "blue"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_field"
    assert "colour" in response.json()["detail"]
    assert Conversation.objects.count() == 0


def test_invalid_json_is_a_json_400(api):
    response = api.post(URL, data='{"title": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_body_must_be_an_object(api):
    response = api.post(URL, data="[1, 2]", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


@override_settings(PARLEY_MAX_TITLE_LENGTH=20, PARLEY_MAX_SYSTEM_PROMPT_CHARS=50)
def test_oversized_title_and_system_prompt_are_400_too_long(api):
    too_long_title = api.post(URL, {"title": "t" * 21}, format="json")
    assert too_long_title.status_code == 400 and too_long_title.json()["code"] == "too_long"
    too_long_prompt = api.post(URL, {"system_prompt": "p" * 51}, format="json")
    assert too_long_prompt.status_code == 400 and too_long_prompt.json()["code"] == "too_long"
    assert api.post(URL, {"title": "t" * 20, "system_prompt": "p" * 50}, format="json").status_code == 201


def test_list_is_newest_first_and_paginated(api, user):
    ids = [str(conversation_create(owner=user, title=f"c{i}").pk) for i in range(25)]
    first = api.get(URL).json()
    assert first["count"] == 25
    assert [c["id"] for c in first["results"]] == ids[::-1][:20]
    second = api.get(URL, {"page": 2}).json()
    assert [c["id"] for c in second["results"]] == ids[::-1][20:]
    assert first["next"] and second["previous"] and second["next"] is None
    assert api.get(URL, {"page": 9}).status_code == 404


def test_new_message_moves_a_conversation_to_the_top(api, user):
    older = conversation_create(owner=user, title="older")
    conversation_create(owner=user, title="newer")
    message_create(conversation=older, content="bump")
    assert [c["title"] for c in api.get(URL).json()["results"]] == ["older", "newer"]


def test_list_shows_message_counts(api, user):
    conversation = conversation_create(owner=user, title="counted")
    for text in ("one", "two", "three"):
        message_create(conversation=conversation, content=text)
    [row] = api.get(URL).json()["results"]
    assert row["message_count"] == 3
    assert api.get(f"{URL}{conversation.pk}/").json()["message_count"] == 3


def test_search_matches_titles_and_message_text(api, user, other_user):
    by_title = conversation_create(owner=user, title="Quantum tunnelling notes")
    by_message = conversation_create(owner=user, title="Physics")
    message_create(conversation=by_message, content="Explain QUANTUM entanglement please")
    message_create(conversation=by_message, content="and quantum decoherence")
    conversation_create(owner=user, title="Cooking")
    foreign = conversation_create(owner=other_user, title="quantum secrets")
    results = api.get(URL, {"q": "quantum"}).json()["results"]
    assert {r["id"] for r in results} == {str(by_title.pk), str(by_message.pk)}
    assert str(foreign.pk) not in {r["id"] for r in results}
    # Two matching messages do not duplicate the row or inflate its count.
    assert next(r for r in results if r["id"] == str(by_message.pk))["message_count"] == 2
    assert api.get(URL, {"q": "nothing-like-this"}).json()["count"] == 0


def test_list_never_shows_other_users_conversations(api, user, other_user):
    conversation_create(owner=other_user, title="theirs")
    assert api.get(URL).json()["count"] == 0


def test_update_changes_only_given_fields(api, user):
    conversation = conversation_create(owner=user, title="Old", system_prompt="keep me", params={"temperature": 1})
    response = api.patch(f"{URL}{conversation.pk}/", {"title": "New", "default_model": "anthropic/claude-sonnet-4-5"},
                         format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["title"] == "New" and body["system_prompt"] == "keep me"
    assert body["default_model"] == "anthropic/claude-sonnet-4-5" and body["params"] == {"temperature": 1}
    replaced = api.patch(f"{URL}{conversation.pk}/", {"params": {"top_p": 0.5}}, format="json").json()
    assert replaced["params"] == {"top_p": 0.5}


def test_update_with_bad_input_changes_nothing(api, user):
    conversation = conversation_create(owner=user, title="Stays")
    response = api.patch(f"{URL}{conversation.pk}/", {"title": "Changed", "params": {"temperature": 9}}, format="json")
    assert response.status_code == 400
    conversation.refresh_from_db()
    assert conversation.title == "Stays" and conversation.params == {}


def test_delete_removes_the_conversation_and_its_messages(api, user):
    conversation = conversation_create(owner=user)
    message_create(conversation=conversation, content="hello")
    assert api.delete(f"{URL}{conversation.pk}/").status_code == 204
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    assert not Message.objects.filter(conversation_id=conversation.pk).exists()
    assert api.get(f"{URL}{conversation.pk}/").status_code == 404


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", str(uuid.uuid4())])
def test_bad_or_missing_ids_are_json_404(api, bad_id):
    for method in ("get", "patch", "delete"):
        response = getattr(api, method)(f"{URL}{bad_id}/", {}, format="json")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


def test_merged_from_lists_source_conversations(api, user):
    from merging.models import MergeHistory

    first, second = conversation_create(owner=user, title="a"), conversation_create(owner=user, title="b")
    merged = conversation_create(owner=user, title="merged")
    for source in (first, second):
        MergeHistory.objects.create(result_conversation=merged, source_conversation=source)
    body = api.get(f"{URL}{merged.pk}/").json()
    assert sorted(body["merged_from"]) == sorted([str(first.pk), str(second.pk)])
    listed = next(c for c in api.get(URL).json()["results"] if c["id"] == str(merged.pk))
    assert sorted(listed["merged_from"]) == sorted(body["merged_from"])


def test_requires_authentication(client):
    response = client.get(URL)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_names_longer_than_their_columns_are_400_not_500(api, settings):
    settings.PARLEY_MAX_TITLE_LENGTH = 10_000
    too_long_model = "openai/" + "m" * 200
    response = api.post(URL, {"default_model": too_long_model}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "max_length"
    response = api.post(URL, {"title": "t" * 501}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "too_long"
    assert Conversation.objects.count() == 0
