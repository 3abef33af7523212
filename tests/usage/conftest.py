"""Helpers of the usage tests: users with tokens, catalog prices, spend already recorded this month."""
from decimal import Decimal

import httpx
import pytest
from django.utils import timezone

from accounts.services import api_token_create
from providers.models import CatalogModel
from tests.chats.streaming_client import bearer


@pytest.fixture
def spender(django_user_model):
    user = django_user_model.objects.create_user("spender", password="correct horse battery staple")
    _, user.raw_token = api_token_create(user=user, name="usage")
    return user


def client_for(server, user) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, headers=bearer(user.raw_token), timeout=30)


def price(model: str, prompt: str, completion: str) -> CatalogModel:
    """A catalog entry with USD-per-token prices for `model`."""
    return CatalogModel.objects.create(id=model, provider=model.split("/")[0], name=model,
                                       pricing_prompt=Decimal(prompt), pricing_completion=Decimal(completion),
                                       fetched_at=timezone.now())


def spent(user, amount: str, *, model: str = "openai/old", **fields):
    """A finished call this month that cost `amount`."""
    from usage.models import UsageRecord

    return UsageRecord.objects.create(owner=user, kind=fields.pop("kind", "reply"), model=model,
                                      provider=model.split("/")[0], status="complete", cost=Decimal(amount),
                                      cost_source="catalog", **fields)
