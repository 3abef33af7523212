"""A reply that fails or is cancelled after the provider told its prompt's tokens (Anthropic's message_start, Gemini's
usageMetadata on every chunk, Perplexity's usage on every chunk) is priced from those tokens, its completion
estimated from the text it got; a provider that says nothing before its end (OpenAI) is estimated whole. Through
the fake provider on a live server, per wire-protocol family."""
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from chats.models import Message
from chats.services import conversation_create
from tests.chats.streaming_client import read_events
from tests.usage.conftest import client_for, price
from tests.usage.test_replies import stream_reply
from usage.models import UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

# The fake counts words as prompt tokens: 20. Parley's estimate is about four characters a token, plus 3 per
# message: 59 characters → 15 + 3 = 18. Which of the two a row holds says where it came from.
PROMPT = " ".join(["go"] * 20)
TOLD, ESTIMATED = 20, 18


def cost(prompt: int, completion: int) -> Decimal:
    return Decimal("0.001") * prompt + Decimal("0.002") * completion


@pytest.mark.parametrize("provider", ["anthropic", "gemini", "perplexity"])
async def test_a_reply_failing_mid_stream_is_priced_from_the_prompt_tokens_it_was_told(live_asgi, fake_provider,
                                                                                       spender, provider):
    model = f"{provider}/fail-after-3"
    await sync_to_async(price)(model, "0.001", "0.002")
    _conversation, events = await stream_reply(live_asgi, spender, model, content=PROMPT)
    assert events[-1]["status"] == "failed"
    record = await UsageRecord.objects.aget(generation_id=events[0]["generation_id"])
    completion = -(-len("w1 w2 w3 ") // 4)
    assert (record.status, record.prompt_tokens, record.completion_tokens) == ("failed", TOLD, completion)
    assert record.cost_source == "estimated" and record.cost == cost(TOLD, completion)
    message = await Message.objects.aget(pk=events[-1]["message_id"])
    assert message.usage["prompt_tokens"] == TOLD and message.cost == record.cost
    usage_event = next(event for event in events if event["type"] == "usage")
    assert usage_event["prompt_tokens"] == TOLD and usage_event["completion_tokens"] == completion


@pytest.mark.parametrize("provider", ["anthropic", "gemini"])
async def test_a_cancelled_reply_is_priced_from_the_prompt_tokens_it_was_told(live_asgi, fake_provider, spender,
                                                                              provider):
    model = f"{provider}/story-200-20"
    await sync_to_async(price)(model, "0.001", "0.002")
    conversation = await sync_to_async(conversation_create)(owner=spender, default_model=model)
    async with client_for(live_asgi, spender) as client:
        async with client.stream("POST", f"/api/v1/conversations/{conversation.pk}/completions/",
                                 json={"content": PROMPT}) as response:
            first = await read_events(response, stop_after=5)
            await client.post(f"/api/v1/generations/{first[0]['generation_id']}/cancel/")
            rest = await read_events(response)
    assert rest[-1]["status"] == "cancelled"
    message = await Message.objects.aget(pk=rest[-1]["message_id"])
    record = await UsageRecord.objects.aget(generation_id=first[0]["generation_id"])
    completion = -(-len(message.content) // 4)
    assert (record.status, record.prompt_tokens, record.completion_tokens) == ("cancelled", TOLD, completion)
    assert record.cost_source == "estimated" and record.cost == cost(TOLD, completion)


async def test_a_provider_that_tells_nothing_before_its_end_is_estimated_whole(live_asgi, fake_provider, spender):
    model = "openai/fail-after-3"
    await sync_to_async(price)(model, "0.001", "0.002")
    _conversation, events = await stream_reply(live_asgi, spender, model, content=PROMPT)
    record = await UsageRecord.objects.aget(generation_id=events[0]["generation_id"])
    completion = -(-len("w1 w2 w3 ") // 4)
    assert (record.prompt_tokens, record.completion_tokens, record.cost_source) == (ESTIMATED, completion,
                                                                                    "estimated")


async def test_a_complete_reply_is_priced_from_its_final_usage(live_asgi, fake_provider, spender):
    model = "anthropic/story-4-0"
    await sync_to_async(price)(model, "0.001", "0.002")
    _conversation, events = await stream_reply(live_asgi, spender, model, content=PROMPT)
    record = await UsageRecord.objects.aget(generation_id=events[0]["generation_id"])
    # The fake counts characters of the answer as completion tokens: "w1 w2 w3 w4 " is 4 pieces of 3.
    assert (record.status, record.prompt_tokens, record.cost_source) == ("complete", TOLD, "catalog")
    assert record.cost == cost(TOLD, record.completion_tokens)


async def _gateway_record(user) -> UsageRecord:
    """The gateway call's row once its end is recorded (the server records it after the client has gone)."""
    import asyncio

    for _ in range(200):
        record = await UsageRecord.objects.filter(owner=user, kind="gateway", finished_at__isnull=False).afirst()
        if record is not None:
            return record
        await asyncio.sleep(0.05)
    raise AssertionError("the gateway call was never recorded")


async def test_a_gateway_stream_failing_mid_way_is_priced_from_the_prompt_tokens_it_was_told(
        live_asgi, fake_provider, spender):
    model = "anthropic/fail-after-3"
    await sync_to_async(price)(model, "0.001", "0.002")
    async with client_for(live_asgi, spender) as client:
        response = await client.post("/v1/chat/completions", json={
            "model": model, "stream": True, "messages": [{"role": "user", "content": PROMPT}]})
    assert response.status_code == 200 and '"error"' in response.text
    record = await _gateway_record(spender)
    completion = -(-len("w1 w2 w3 ") // 4)
    assert (record.status, record.prompt_tokens, record.completion_tokens) == ("failed", TOLD, completion)
    assert record.cost_source == "estimated" and record.cost == cost(TOLD, completion)


async def test_a_gateway_stream_the_client_leaves_is_estimated_not_free(live_asgi, fake_provider, spender):
    model = "openai/story-200-20"
    await sync_to_async(price)(model, "0.001", "0.002")
    async with client_for(live_asgi, spender) as client:
        async with client.stream("POST", "/v1/chat/completions", json={
                "model": model, "stream": True, "messages": [{"role": "user", "content": PROMPT}]}) as response:
            assert response.status_code == 200
            chunks = 0
            async for line in response.aiter_lines():
                chunks += line.startswith("data:")
                if chunks == 6:
                    break
    record = await _gateway_record(spender)
    assert record.status == "cancelled" and record.cost_source == "estimated"
    assert record.prompt_tokens == ESTIMATED and 0 < record.completion_tokens < 200
    assert record.cost == cost(ESTIMATED, record.completion_tokens)
