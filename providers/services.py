"""Writes of stored provider keys: add (encrypted at once) and delete."""
from django.db import transaction

from providers.models import ProviderKey


@transaction.atomic
def provider_key_create(*, owner, provider: str, api_key: str, label: str = "") -> ProviderKey:
    """Store a key for `owner` (None = shared with everyone); only its ciphertext and hint are kept."""
    key = ProviderKey(owner=owner, provider=provider, label=label)
    key.set_secret(api_key)
    key.save()
    return key


def provider_key_delete(*, key: ProviderKey) -> None:
    key.delete()
