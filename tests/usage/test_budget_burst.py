"""A burst of concurrent starts at the edge of the budget on PostgreSQL: the per-user budget row is locked while
the month's spend (running replies counted at their reserved prompt cost) is checked, so exactly as many start as
the budget has room for."""
import asyncio
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from chats.services import conversation_create
from tests.usage.conftest import client_for, price, spent
from usage.models import UsageRecord
from usage.services import user_budget_set

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

MODEL = "openai/story-60-50"  # three seconds a reply: none ends (and frees its reservation) during the burst


def setup_edge(user) -> list:
    # "hello": 2 estimated tokens + 3 per message = 5 prompt tokens at 0.01 → 0.05 reserved per start.
    price(MODEL, "0.01", "0")
    user_budget_set(user_id=user.pk, monthly_budget=Decimal("1.00"))
    spent(user, "0.90")
    return [conversation_create(owner=user, default_model=MODEL) for _ in range(8)]


async def test_a_burst_of_starts_cannot_spend_past_the_replies_already_running(live_asgi, fake_provider, spender):
    conversations = await sync_to_async(setup_edge)(spender)
    async with client_for(live_asgi, spender) as client:
        async def start(conversation):
            async with client.stream("POST", f"/api/v1/conversations/{conversation.pk}/completions/",
                                     json={"content": "hello"}) as response:
                if response.status_code != 200:
                    return response.status_code, (await response.aread()).decode()
                return 200, response.headers["x-generation-id"]

        results = await asyncio.gather(*(start(conversation) for conversation in conversations))
        for status, generation_id in results:
            if status == 200:
                await client.post(f"/api/v1/generations/{generation_id}/cancel/")
    statuses = sorted(status for status, _ in results)
    # 0.90 → starts (0.95) → starts (1.00) → the budget is reached: every other start is refused.
    assert statuses == [200, 200] + [402] * 6, results
    assert all("budget_exceeded" in body for status, body in results if status == 402)
    started = await sync_to_async(lambda: UsageRecord.objects.filter(model=MODEL).count())()
    assert started == 2
    # What was let through is bounded by the replies that were running, not by how many asked at once.
    calls = [r for r in fake_provider.requests() if r.get("path", "").endswith("/chat/completions")]
    assert len(calls) == 2
