"""A burst of concurrent gateway calls, stateless streams and merges at the edge of the budget: each call reserves
its prompt's cost under the user's budget lock before it reaches the provider, so only as many start as the budget
has room for; the rest are refused with 402 `budget_exceeded` and the spent and limit figures. Every reservation is
settled or given back when its call ends. (On SQLite in the embedded run, on PostgreSQL in the services run.)"""
import asyncio
import contextlib
import json
import time
from decimal import Decimal

import httpx
import pytest
from asgiref.sync import sync_to_async

from chats.models import Conversation, Message
from merging.models import MergeJob
from tests.usage.conftest import client_for, price, spent
from usage.models import UsageRecord
from usage.services import user_budget_set

pytestmark = [pytest.mark.django_db(transaction=True)]

SLOW = "openai/story-60-50"  # three seconds a reply: none ends (and settles its reservation) during the burst
BURST = 8


def at_the_edge(user, model: str = SLOW):
    # "hello": 2 estimated tokens + 3 per message = 5 prompt tokens at 0.01 → 0.05 reserved per call.
    price(model, "0.01", "0")
    user_budget_set(user_id=user.pk, monthly_budget=Decimal("1.00"))
    spent(user, "0.90")


def provider_calls(fake_provider, model_id: str) -> int:
    return sum(1 for request in fake_provider.requests()
               if request.get("path", "").endswith("/chat/completions") and model_id in json.dumps(request))


def wait_until(condition, *, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("gave up waiting")
        time.sleep(0.05)


def running_rows() -> list:
    return list(UsageRecord.objects.filter(status="running").values_list("kind", "model"))


async def burst(client, path: str, body: dict) -> list[tuple[int, dict | None]]:
    """BURST concurrent streamed calls; those that started stay open until every call has its answer."""
    async with contextlib.AsyncExitStack() as open_streams:
        async def start():
            response = await open_streams.enter_async_context(client.stream("POST", path, json=body))
            if response.status_code != 200:
                return response.status_code, json.loads(await response.aread())
            return 200, None

        return await asyncio.gather(*(start() for _ in range(BURST)))


async def test_a_burst_of_gateway_calls_starts_only_what_the_budget_has_room_for(live_asgi, fake_provider, spender):
    await sync_to_async(at_the_edge)(spender)
    async with client_for(live_asgi, spender) as client:
        results = await burst(client, "/v1/chat/completions", {
            "model": SLOW, "stream": True, "messages": [{"role": "user", "content": "hello"}]})
    statuses = sorted(status for status, _ in results)
    # 0.90 → starts (0.95) → starts (1.00) → the budget is reached: every other call is refused.
    assert statuses == [200, 200] + [402] * (BURST - 2), results
    for status, body in results:
        if status == 402:  # OpenAI's error shape, with the figures
            assert body["error"]["code"] == "budget_exceeded"
            assert "(spent 1, limit 1 USD)" in body["error"]["message"]
    assert provider_calls(fake_provider, "story-60-50") == 2
    # The two calls were cut off by their clients: their rows are settled as cancelled, nothing stays reserved.
    await sync_to_async(wait_until)(lambda: not running_rows())
    rows = await sync_to_async(lambda: list(UsageRecord.objects.filter(kind="gateway")))()
    assert [(row.model, row.status, row.reserved) for row in rows] == [(SLOW, "cancelled", None)] * 2


async def test_a_burst_of_stateless_streams_starts_only_what_the_budget_has_room_for(live_asgi, fake_provider,
                                                                                    spender):
    await sync_to_async(at_the_edge)(spender)
    async with client_for(live_asgi, spender) as client:
        results = await burst(client, "/api/v1/chat/stream/", {
            "model": SLOW, "messages": [{"role": "user", "content": "hello"}]})
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 200] + [402] * (BURST - 2), results
    for status, body in results:
        if status == 402:
            assert body["code"] == "budget_exceeded"
            assert "(spent 1, limit 1 USD)" in body["detail"]
    assert provider_calls(fake_provider, "story-60-50") == 2
    # Each stream, cut off by its client, is recorded once (estimated from its text), its reservation given back.
    await sync_to_async(wait_until)(lambda: not running_rows()
                                    and UsageRecord.objects.filter(model=SLOW).count() == 2)
    rows = await sync_to_async(lambda: list(UsageRecord.objects.filter(model=SLOW)))()
    assert all(row.status == "cancelled" and row.cost is not None and row.reserved is None for row in rows), rows


def test_a_burst_of_merges_makes_only_the_model_calls_the_budget_has_room_for(api, user, fake_provider,
                                                                              in_process_tasks):
    model = "openai/merge-tagged-100"  # one word every 100 ms: the first call still runs while the others start
    at_the_edge(user, model)
    # A merge prompt is hundreds of tokens at 0.01: the first call's reservation alone reaches the budget.
    first = Conversation.objects.create(owner=user, title="One")
    second = Conversation.objects.create(owner=user, title="Two")
    for conversation, text in ((first, "Sorting numbers in Python"), (second, "Sorting strings in Python")):
        question = Message.objects.create(conversation=conversation, role="user", content=f"How? {text}")
        Message.objects.create(conversation=conversation, role="assistant", content=f"Use sorted(). {text}",
                               reply_to=question, parent=question)
    ids = [str(first.pk), str(second.pk)]
    jobs, refused = [], []
    for index in range(4):
        created = api.post("/api/v1/merges/", {"conversation_ids": ids, "model": model,
                                               "instructions": f"Merge number {index}."}, format="json")
        # Queued while nothing is reserved yet; refused once the first merge's call has reserved its prompt.
        if created.status_code == 402:
            refused.append(created.json())
        else:
            assert created.status_code == 202, created.json()
            jobs.append(created.json()["id"])
    assert jobs and all(body["code"] == "budget_exceeded" and "limit 1 USD)" in body["detail"] for body in refused)
    wait_until(lambda: all(job.finished for job in MergeJob.objects.filter(pk__in=jobs)), timeout=60)
    finished = list(MergeJob.objects.filter(pk__in=jobs))
    assert sorted(job.status for job in finished) == ["failed"] * (len(jobs) - 1) + ["succeeded"]
    for job in finished:
        if job.status == "failed":  # queued in time, refused by the budget when its call was about to start
            assert job.error_code == "budget_exceeded"
            assert "limit 1 USD)" in job.error and job.error.startswith("Your monthly budget is used up")
    assert provider_calls(fake_provider, "merge-tagged-100") == 1
    rows = list(UsageRecord.objects.filter(kind="merge"))
    assert [(row.status, row.reserved) for row in rows] == [("complete", None)]
    assert rows[0].cost is not None and rows[0].cost > Decimal("0.10")


def test_a_call_refused_by_the_budget_never_reaches_the_provider_and_leaves_no_row(live_asgi, fake_provider,
                                                                                  spender):
    at_the_edge(spender)
    spent(spender, "0.10")
    response = httpx.post(f"{live_asgi.url}/v1/chat/completions", headers={
        "Authorization": f"Bearer {spender.raw_token}"}, timeout=30,
        json={"model": SLOW, "messages": [{"role": "user", "content": "hello"}]})
    assert response.status_code == 402 and response.json()["error"]["code"] == "budget_exceeded"
    assert "(spent 1, limit 1 USD)" in response.json()["error"]["message"]
    assert provider_calls(fake_provider, "story-60-50") == 0
    assert not UsageRecord.objects.filter(model=SLOW).exists()


@pytest.fixture
def in_process_tasks(settings):
    settings.CELERY_BROKER_URL = ""


def test_a_fusion_reserves_every_model_and_its_judge_before_asking_any(live_asgi, fake_provider, spender):
    at_the_edge(spender)
    for model in ("gemini/story-60-50", "anthropic/story-60-50"):
        price(model, "0.01", "0")
    # Room for two calls of 0.05; the fusion needs three (two models and the judge): none is asked.
    response = httpx.post(f"{live_asgi.url}/v1/chat/completions", headers={
        "Authorization": f"Bearer {spender.raw_token}"}, timeout=30,
        json={"model": "parley/fusion", "messages": [{"role": "user", "content": "hello"}],
              "parley": {"models": [SLOW, "gemini/story-60-50"], "judge": "anthropic/story-60-50"}})
    assert response.status_code == 402 and response.json()["error"]["code"] == "budget_exceeded"
    assert fake_provider.requests() == []
    assert UsageRecord.objects.filter(kind="gateway").count() == 0
