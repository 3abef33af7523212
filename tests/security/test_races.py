"""Writes racing a delete end in a 404 or a clean result, never a 500 ("Save with update_fields did not affect
any rows")."""
import pytest
from asgiref.sync import sync_to_async
from django.http import Http404

from chats.models import Conversation, Preset
from chats.services import conversation_create, conversation_update, preset_update
from providers.models import ProviderKey
from providers.openai_chat import OpenAIChatAdapter
from providers.services import provider_key_create


def test_key_deleted_while_the_provider_is_asked_is_a_404(api, user, fake_provider, monkeypatch):
    key = provider_key_create(owner=user, provider="openai", api_key="sk-alice-valid-key-1")
    asked = OpenAIChatAdapter.validate_key

    async def validate_while_deleted(self, route):
        verdict = await asked(self, route)
        # The owner deletes the key (another request) while the provider is still answering.
        await sync_to_async(ProviderKey.objects.filter(pk=key.pk).delete)()
        return verdict

    monkeypatch.setattr(OpenAIChatAdapter, "validate_key", validate_while_deleted)
    answer = api.post(f"/api/v1/keys/{key.pk}/validate/")
    assert answer.status_code == 404, answer.content
    assert answer.json()["code"] == "not_found"
    assert not ProviderKey.objects.filter(pk=key.pk).exists()


def test_renaming_a_conversation_deleted_meanwhile_is_a_404(user):
    conversation = conversation_create(owner=user, title="old")
    Conversation.objects.filter(pk=conversation.pk).delete()
    with pytest.raises(Http404):
        conversation_update(conversation=conversation, title="new")
    assert not Conversation.objects.exists()


def test_updating_a_preset_deleted_meanwhile_is_a_404(user):
    preset = Preset.objects.create(owner=user, name="p", model="openai/echo")
    Preset.objects.filter(pk=preset.pk).delete()
    with pytest.raises(Http404):
        preset_update(preset=preset, name="q")
