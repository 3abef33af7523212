"""Key rotation end to end: re-encrypt under a new key, drop the old one, keys still open; lost keys are listed."""
import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.test import override_settings

from providers.models import CustomEndpoint, ProviderKey
from providers.services import provider_key_create

pytestmark = pytest.mark.django_db

KEY_A, KEY_B, KEY_GONE = (Fernet.generate_key().decode() for _ in range(3))
SECRET = "sk-rotate-me-0123456789abcdef"
ENDPOINT_SECRET = "ep-rotate-me-0123456789abcdef"


def rotate() -> str:
    out = io.StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    return out.getvalue()


def test_rotation_lets_the_old_key_be_dropped(api, user):
    with override_settings(PARLEY_ENCRYPTION_KEYS=[KEY_A]):
        key = provider_key_create(owner=user, provider="openai", api_key=SECRET)
        endpoint = CustomEndpoint(owner=user, slug="mine", name="Mine", base_url="https://llm.example.com/v1")
        endpoint.set_secret(ENDPOINT_SECRET)
        endpoint.save()
        keyless = CustomEndpoint.objects.create(owner=None, slug="open", name="Open", base_url="https://o.example.com")
    with override_settings(PARLEY_ENCRYPTION_KEYS=[KEY_B]):
        assert not ProviderKey.objects.get(pk=key.pk).decryptable  # B alone cannot open A's ciphertext yet
    with override_settings(PARLEY_ENCRYPTION_KEYS=[KEY_B, KEY_A]):
        output = rotate()
    assert "Re-encrypted 2 secret(s)" in output
    assert SECRET not in output and ENDPOINT_SECRET not in output
    with override_settings(PARLEY_ENCRYPTION_KEYS=[KEY_B]):
        assert ProviderKey.objects.get(pk=key.pk).get_secret() == SECRET
        assert CustomEndpoint.objects.get(pk=endpoint.pk).get_secret() == ENDPOINT_SECRET
        assert CustomEndpoint.objects.get(pk=keyless.pk).encrypted_secret == ""
        row = api.get("/api/v1/keys/").json()["results"][0]
        assert row["needs_reentry"] is False and row["hint"] == "…cdef"


def test_keys_under_a_dropped_key_are_listed_left_alone_and_flagged(api, user):
    with override_settings(PARLEY_ENCRYPTION_KEYS=[KEY_GONE]):
        lost = provider_key_create(owner=user, provider="anthropic", api_key="sk-ant-lost-0000000000wxyz")
    with override_settings(PARLEY_ENCRYPTION_KEYS=[KEY_A]):
        kept = provider_key_create(owner=user, provider="openai", api_key=SECRET)
    ciphertext = ProviderKey.objects.get(pk=lost.pk).encrypted_secret
    with override_settings(PARLEY_ENCRYPTION_KEYS=[KEY_B, KEY_A]):
        output = rotate()
        assert "Re-encrypted 1 secret(s)" in output
        assert f"provider key id={lost.pk} anthropic …wxyz" in output
        assert "sk-ant-lost" not in output
        assert ProviderKey.objects.get(pk=lost.pk).encrypted_secret == ciphertext
        response = api.get("/api/v1/keys/")
        assert response.status_code == 200
        rows = {row["id"]: row for row in response.json()["results"]}
        assert rows[lost.pk]["needs_reentry"] is True
        assert rows[kept.pk]["needs_reentry"] is False
        health = api.get("/api/v1/health/")
        assert health.status_code == 200


def test_rotation_with_nothing_stored():
    assert "Re-encrypted 0 secret(s)" in rotate()
