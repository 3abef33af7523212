"""Every reply is priced and counted, on a live server against the fake provider: each vendor's usage shape,
cancelled and truncated replies, and the conversation's totals."""
import asyncio
import json
from decimal import Decimal

import httpx
import pytest
import websockets
from asgiref.sync import sync_to_async

from chats.models import Message
from chats.services import conversation_create, message_create
from tests.chats.streaming_client import bearer, read_events
from tests.usage.conftest import client_for, price
from usage.models import UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

PROMPT = "Tell me a story please"  # the fake counts words as prompt tokens: 5


async def stream_reply(server, user, model: str, content: str = PROMPT) -> tuple[object, list[dict]]:
    conversation = await sync_to_async(conversation_create)(owner=user, default_model=model)
    async with client_for(server, user) as client:
        async with client.stream("POST", f"/api/v1/conversations/{conversation.pk}/completions/",
                                 json={"content": content}) as response:
            assert response.status_code == 200, await response.aread()
            return conversation, await read_events(response)


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
async def test_each_vendor_usage_shape_prices_the_reply_with_cached_tokens(live_asgi, fake_provider, spender,
                                                                         provider):
    model = f"{provider}/cached-3"
    await sync_to_async(price)(model, "0.001", "0.002")
    _conversation, events = await stream_reply(live_asgi, spender, model)
    assert events[-1]["status"] == "complete"
    record = await UsageRecord.objects.aget(generation_id=events[0]["generation_id"])
    assert (record.status, record.kind, record.model, record.provider) == ("complete", "reply", model, provider)
    assert (record.prompt_tokens, record.cached_tokens, record.completion_tokens) == (5, 3, 5)
    # No cache price known for this model: cached tokens cost what prompt tokens do.
    assert record.cost == Decimal("0.001") * 5 + Decimal("0.002") * 5 and record.cost_source == "catalog"
    assert record.reserved is None
    message = await Message.objects.aget(pk=events[-1]["message_id"])
    assert message.cost == record.cost and message.usage["cost_source"] == "catalog"
    usage_event = next(event for event in events if event["type"] == "usage")
    assert usage_event["cost"] == float(record.cost)


async def test_reasoning_tokens_are_counted(live_asgi, fake_provider, spender):
    _conversation, events = await stream_reply(live_asgi, spender, "openai/think-6-0")
    record = await UsageRecord.objects.aget(generation_id=events[0]["generation_id"])
    assert record.reasoning_tokens == 3 and record.completion_tokens == 9


async def test_the_provider_reported_cost_is_kept(live_asgi, fake_provider, spender):
    await sync_to_async(price)("openrouter/fake/story-5-0", "1", "1")  # never used: OpenRouter said what it cost
    _conversation, events = await stream_reply(live_asgi, spender, "openrouter/fake/story-5-0")
    record = await UsageRecord.objects.aget(generation_id=events[0]["generation_id"])
    assert record.cost_source == "provider" and record.cost == Decimal("0.000015")


async def test_the_price_table_prices_models_the_catalog_does_not_know(live_asgi, fake_provider, spender):
    _conversation, events = await stream_reply(live_asgi, spender, "openai/gpt-4o")
    record = await UsageRecord.objects.aget(generation_id=events[0]["generation_id"])
    assert record.cost_source == "catalog"
    assert record.cost == (Decimal(5) * Decimal("2.5") + Decimal(5) * Decimal("10")) / 1_000_000


async def test_a_model_without_any_price_has_a_null_cost(live_asgi, fake_provider, spender):
    _conversation, events = await stream_reply(live_asgi, spender, "openai/story-5-0")
    record = await UsageRecord.objects.aget(generation_id=events[0]["generation_id"])
    assert record.cost is None and record.cost_source == "" and record.completion_tokens == 5


async def test_a_cancelled_reply_is_estimated_from_its_text(live_asgi, fake_provider, spender):
    model = "openai/story-200-20"
    await sync_to_async(price)(model, "0.001", "0.002")
    conversation = await sync_to_async(conversation_create)(owner=spender, default_model=model)
    async with client_for(live_asgi, spender) as client:
        async with client.stream("POST", f"/api/v1/conversations/{conversation.pk}/completions/",
                                 json={"content": PROMPT}) as response:
            first = await read_events(response, stop_after=6)
            cancelled = await client.post(f"/api/v1/generations/{first[0]['generation_id']}/cancel/")
            assert cancelled.status_code in (200, 202)
            rest = await read_events(response)
    assert rest[-1]["status"] == "cancelled"
    message = await Message.objects.aget(pk=rest[-1]["message_id"])
    record = await UsageRecord.objects.aget(generation_id=first[0]["generation_id"])
    assert record.status == "cancelled" and record.cost_source == "estimated"
    assert record.completion_tokens == -(-len(message.content) // 4) > 0
    assert record.prompt_tokens > 0
    assert record.cost == Decimal("0.001") * record.prompt_tokens + Decimal("0.002") * record.completion_tokens
    assert message.cost == record.cost and message.usage["cost_source"] == "estimated"


async def test_a_truncated_reply_is_counted_as_failed(live_asgi, fake_provider, spender):
    model = "openai/truncate-after-8"
    await sync_to_async(price)(model, "0.001", "0.002")
    _conversation, events = await stream_reply(live_asgi, spender, model)
    assert events[-1]["status"] == "failed"
    record = await UsageRecord.objects.aget(generation_id=events[0]["generation_id"])
    assert record.status == "failed" and record.error_code == "stream_truncated"
    assert record.cost_source == "estimated" and record.completion_tokens == -(-len("w1 " * 0 + "".join(
        f"w{i} " for i in range(1, 9))) // 4)


async def test_a_reply_failing_mid_stream_is_estimated_from_its_prompt_and_text(live_asgi, fake_provider, spender):
    model = "anthropic/fail-after-3"
    await sync_to_async(price)(model, "0.001", "0.002")
    _conversation, events = await stream_reply(live_asgi, spender, model)
    record = await UsageRecord.objects.aget(generation_id=events[0]["generation_id"])
    assert record.status == "failed" and record.cost_source == "estimated"
    assert record.prompt_tokens > 0 and record.completion_tokens == -(-len("w1 w2 w3 ") // 4)


async def test_the_conversation_detail_has_its_totals(live_asgi, fake_provider, spender):
    model = "openai/story-5-0"
    await sync_to_async(price)(model, "0.001", "0.002")
    conversation, _events = await stream_reply(live_asgi, spender, model)
    async with client_for(live_asgi, spender) as client:
        async with client.stream("POST", f"/api/v1/conversations/{conversation.pk}/completions/",
                                 json={"content": "again"}) as response:
            await read_events(response)
        detail = (await client.get(f"/api/v1/conversations/{conversation.pk}/")).json()
    cost = sum([await sync_to_async(lambda: [r.cost for r in UsageRecord.objects.all()])()][0])
    assert detail["totals"]["replies"] == 2 and detail["totals"]["completion_tokens"] == 10
    assert detail["totals"]["cost"] == pytest.approx(float(cost))


# --- budgets refuse a start before the provider is called ------------------------------------------------------------


def over_budget(user, *, limit: str = "1", spent_amount: str = "1"):
    from tests.usage.conftest import spent
    from usage.services import user_budget_set

    user_budget_set(user_id=user.pk, monthly_budget=Decimal(limit))
    spent(user, spent_amount)


async def test_rest_refuses_a_reply_once_the_budget_is_used_up(live_asgi, fake_provider, spender):
    await sync_to_async(over_budget)(spender, limit="2.50", spent_amount="2.75")
    conversation = await sync_to_async(conversation_create)(owner=spender, default_model="openai/story-5-0")
    async with client_for(live_asgi, spender) as client:
        response = await client.post(f"/api/v1/conversations/{conversation.pk}/completions/",
                                     json={"content": PROMPT})
    assert response.status_code == 402
    body = response.json()
    assert body["code"] == "budget_exceeded" and "$2.75" in body["detail"] and "$2.50" in body["detail"]
    assert fake_provider.requests() == []
    assert not await Message.objects.filter(conversation=conversation).aexists()


async def test_websocket_refuses_a_reply_once_the_budget_is_used_up(live_asgi, fake_provider, spender, settings):
    settings.PARLEY_DEFAULT_MONTHLY_BUDGET = Decimal("1")
    await sync_to_async(lambda: __import__("tests.usage.conftest", fromlist=["spent"]).spent(spender, "1.00"))()
    conversation = await sync_to_async(conversation_create)(owner=spender, default_model="openai/story-5-0")
    await sync_to_async(message_create)(conversation=conversation, content=PROMPT)
    async with websockets.connect(f"{live_asgi.ws_url}/ws/conversations/{conversation.pk}/",
                                  additional_headers=bearer(spender.raw_token), open_timeout=10) as ws:
        await ws.send(json.dumps({"type": "send", "content": "hello"}))
        error = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert error["type"] == "error" and error["code"] == "budget_exceeded"
    assert fake_provider.requests() == []


async def test_a_reply_already_running_finishes_past_the_budget(live_asgi, fake_provider, spender):
    model = "openai/story-30-10"
    await sync_to_async(price)(model, "0.01", "0.01")
    await sync_to_async(over_budget)(spender, limit="0.10", spent_amount="0.05")
    conversation, events = await stream_reply(live_asgi, spender, model)
    assert events[-1]["status"] == "complete"
    async with client_for(live_asgi, spender) as client:
        refused = await client.post(f"/api/v1/conversations/{conversation.pk}/completions/", json={"content": "more"})
    assert refused.status_code == 402


async def test_a_stateless_chat_is_counted_and_refused_once_the_budget_is_used_up(live_asgi, fake_provider, spender):
    model = "openai/story-4-0"
    await sync_to_async(price)(model, "0.001", "0.001")
    body = {"model": model, "messages": [{"role": "user", "content": PROMPT}]}
    async with client_for(live_asgi, spender) as client:
        async with client.stream("POST", "/api/v1/chat/stream/", json=body) as response:
            assert response.status_code == 200
            events = await read_events(response)
        assert events[-1]["status"] == "complete"
        record = await UsageRecord.objects.aget(owner=spender)
        assert (record.kind, record.conversation_id, record.prompt_tokens, record.completion_tokens) == (
            "reply", None, 5, 4)
        assert record.cost == Decimal("0.009")
        await sync_to_async(over_budget)(spender, limit="0.01", spent_amount="0.01")
        refused = await client.post("/api/v1/chat/stream/", json=body)
    assert refused.status_code == 402 and refused.json()["code"] == "budget_exceeded"


async def test_a_reply_interrupted_by_shutdown_is_counted(fake_provider, spender, transactional_db):
    from tests.fixtures.live_server import ThreadedAsgiServer

    model = "openai/story-500-20"
    await sync_to_async(price)(model, "0.001", "0.002")
    conversation = await sync_to_async(conversation_create)(owner=spender, default_model=model)
    await sync_to_async(message_create)(conversation=conversation, content="go")
    server = await asyncio.to_thread(ThreadedAsgiServer(graceful_shutdown_seconds=0.5).start)
    stopping = None
    try:
        async with client_for(server, spender) as client:
            async with client.stream("GET", f"/api/v1/conversations/{conversation.pk}/stream/") as response:
                events = await read_events(response, stop_after=6)
                stopping = asyncio.create_task(asyncio.to_thread(server.stop))
                with pytest.raises(httpx.RemoteProtocolError):  # the server cuts the connection as it stops
                    await read_events(response)
    finally:
        await (stopping or asyncio.to_thread(server.stop))
    record = await UsageRecord.objects.aget(generation_id=events[0]["generation_id"])
    message = await Message.objects.aget(pk=events[0]["message_id"])
    assert record.status == "interrupted" and record.cost_source == "estimated" and record.reserved is None
    assert record.completion_tokens == -(-len(message.content) // 4) > 0
    assert message.cost == record.cost


def test_a_reply_a_crashed_process_left_running_is_counted_by_repair(spender):
    from chats.generations import generations_repair
    from chats.models import Generation, GenerationSlice
    from providers.base import ChatMessage, ChatRequest
    from usage.services import usage_reserve

    model = "openai/story-5-0"
    price(model, "0.001", "0.002")
    conversation = conversation_create(owner=spender, default_model=model)
    message = Message.objects.create(conversation=conversation, role="assistant", model=model, status="streaming")
    generation = Generation.objects.create(owner=spender, conversation=conversation, message=message, model=model,
                                           status="running", runner="gone")
    GenerationSlice.objects.create(generation=generation, first_seq=1, last_seq=2, events=[
        {"type": "start", "seq": 1}, {"type": "content", "seq": 2, "content": "half an answer"}])
    usage_reserve(user_id=spender.pk, model=model, generation_id=generation.pk, conversation_id=conversation.pk,
                  request=ChatRequest(messages=[ChatMessage(role="user", content="x" * 40)]))
    assert generations_repair() == 1
    record = UsageRecord.objects.get(generation_id=generation.pk)
    assert (record.status, record.cost_source, record.completion_tokens, record.prompt_tokens) == (
        "interrupted", "estimated", 4, 13)
    assert record.cost == Decimal("0.001") * 13 + Decimal("0.002") * 4
    message.refresh_from_db()
    assert message.cost == record.cost and message.usage["cost_source"] == "estimated"
