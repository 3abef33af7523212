"""Gateway behaviour over real sockets: retries, cancellation, timeouts, request shapes, completion and cost."""
import asyncio
from decimal import Decimal

import pytest
from django.utils import timezone

from providers import errors
from providers.base import ChatMessage, ChatRequest
from providers.events import EventKind
from providers.gateway import complete_chat, resolve_route, stream_chat, usage_cost
from providers.models import CatalogModel
from tests.providers.streaming import ALL_PROVIDERS, ask, collect, model_name

pytestmark = pytest.mark.django_db


def chats(server, provider=None):
    paths = ("/chat/completions", "/v1/messages", ":streamGenerateContent")
    return [r for r in server.requests() if r["path"].endswith(paths) and (not provider or
                                                                             r["path"].startswith(f"/{provider}/"))]


# --- retries --------------------------------------------------------------------------------------

@pytest.mark.parametrize("provider", ALL_PROVIDERS)
def test_rate_limit_once_is_retried_before_the_first_token(fake_provider, provider):
    outcome = collect(resolve_route(model=model_name(provider, "ratelimit-once"), user_id=None))
    assert outcome.error is None
    assert outcome.text == "w1 w2 w3 w4 w5 "
    assert len(chats(fake_provider)) == 2


def test_retry_waits_what_retry_after_says_and_stops_at_the_cap(fake_provider, settings, monkeypatch):
    settings.PARLEY_PROVIDER_RETRY_WAIT_CAP = 2.5
    waits = []

    async def no_sleep(seconds):
        waits.append(seconds)

    monkeypatch.setattr("providers.transport.wait_before_retry", no_sleep)
    outcome = collect(resolve_route(model="openai/ratelimit", user_id=None))
    assert isinstance(outcome.error, errors.RateLimited) and outcome.error.retryable
    assert waits == [1.0, 1.0]  # Retry-After: 1, twice; a third wait would pass the 2.5 s cap
    assert len(chats(fake_provider)) == 3


def test_backoff_without_retry_after(fake_provider, settings, monkeypatch):
    settings.PARLEY_PROVIDER_RETRY_WAIT_CAP = 10
    settings.PARLEY_PROVIDER_RETRY_BACKOFF = 0.25
    waits = []

    async def no_sleep(seconds):
        waits.append(seconds)

    monkeypatch.setattr("providers.transport.wait_before_retry", no_sleep)
    outcome = collect(resolve_route(model="anthropic/overloaded", user_id=None))
    assert isinstance(outcome.error, errors.Overloaded)
    assert outcome.error.upstream_status == 529
    assert waits == [0.25, 0.5, 1.0]
    assert len(chats(fake_provider)) == 4


@pytest.mark.parametrize("behaviour", ["badkey", "nocredit"])
def test_bad_keys_and_exhausted_credit_are_never_retried(fake_provider, settings, behaviour):
    settings.PARLEY_PROVIDER_RETRY_WAIT_CAP = 10
    outcome = collect(resolve_route(model=f"openrouter/fake/{behaviour}", user_id=None))
    assert not outcome.error.retryable
    assert len(chats(fake_provider)) == 1


def test_no_retry_after_the_first_token(fake_provider, settings):
    settings.PARLEY_PROVIDER_RETRY_WAIT_CAP = 10
    for provider in ALL_PROVIDERS:
        outcome = collect(resolve_route(model=model_name(provider, "fail-after-2"), user_id=None))
        assert outcome.text == "w1 w2 " and outcome.error is not None
        assert len(chats(fake_provider, provider)) == 1, provider


def test_a_bad_key_gets_401_for_any_model(fake_provider, settings):
    settings.PARLEY_PROVIDER_ENV["gemini"]["api_key"] = "bad-key"
    outcome = collect(resolve_route(model="gemini/echo", user_id=None))
    assert isinstance(outcome.error, errors.InvalidApiKey)


# --- cancellation and timeouts -----------------------------------------------------------------------

def _wait_for(condition, timeout=5.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_closing_the_stream_closes_the_upstream_connection(fake_provider, provider):
    route = resolve_route(model=model_name(provider, "story-200-50"), user_id=None)

    async def take_two():
        stream = stream_chat(route, ask())
        received = [await anext(stream), await anext(stream)]
        await stream.aclose()
        return received

    received = asyncio.run(take_two())
    assert [e.text for e in received if e.kind is EventKind.TEXT][:1] == ["w1 "]
    assert _wait_for(lambda: chats(fake_provider)[0]["disconnected"]), "the fake never saw the client go away"
    assert chats(fake_provider)[0].get("completed_at")


def test_cancelling_the_task_closes_the_upstream_connection(fake_provider):
    route = resolve_route(model="openrouter/fake/story-200-50", user_id=None)

    async def cancel_midway():
        seen = asyncio.Event()

        async def consume():
            async for event in stream_chat(route, ask()):
                if event.kind is EventKind.TEXT:
                    seen.set()

        task = asyncio.create_task(consume())
        await seen.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_midway())
    assert _wait_for(lambda: chats(fake_provider)[0]["disconnected"])


def test_first_byte_timeout(fake_provider, settings):
    settings.PARLEY_PROVIDER_FIRST_BYTE_TIMEOUT = 0.2
    settings.PARLEY_PROVIDER_RETRY_WAIT_CAP = 0
    outcome = collect(resolve_route(model="xai/slow-first-2000", user_id=None))
    assert isinstance(outcome.error, errors.ProviderTimeout)


def test_idle_timeout_mid_stream_keeps_partial_text(fake_provider, settings):
    from providers.transport import close_clients  # noqa: F401  (clients are per loop; each asyncio.run is new)

    settings.PARLEY_PROVIDER_IDLE_TIMEOUT = 0.2
    outcome = collect(resolve_route(model="deepseek/story-3-1000", user_id=None))
    assert isinstance(outcome.error, errors.ProviderTimeout)
    assert outcome.text == "w1 "


def test_unreachable_provider(settings, db):
    settings.PARLEY_PROVIDER_ENV = {"openai": {"api_key": "k-123456789", "base_url": "http://127.0.0.1:9/v1"}}
    settings.PARLEY_PROVIDER_RETRY_WAIT_CAP = 0
    outcome = collect(resolve_route(model="openai/gpt-4o", user_id=None))
    assert isinstance(outcome.error, errors.ProviderUnreachable) and outcome.error.retryable


# --- requests as each provider expects them ------------------------------------------------------

HISTORY = ChatRequest(
    system="Be brief.",
    messages=[ChatMessage("user", "first question"), ChatMessage("assistant", "first answer"),
              ChatMessage("user", "second question")],
    params={"temperature": 0.3, "max_tokens": 500},
)


def sent(server):
    (request,) = chats(server)
    return request


def test_openai_request(fake_provider):
    collect(resolve_route(model="openai/echo", user_id=None), HISTORY)
    request = sent(fake_provider)
    assert request["headers"]["authorization"] == "Bearer test-key-openai"
    body = request["json"]
    assert body["model"] == "echo" and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "first question"},
                                {"role": "assistant", "content": "first answer"},
                                {"role": "user", "content": "second question"}]
    assert body["max_completion_tokens"] == 500 and body["temperature"] == 0.3


def test_openai_reasoning_models_take_effort_not_temperature(fake_provider):
    request = ChatRequest(messages=[ChatMessage("user", "q")],
                          params={"temperature": 0.3, "reasoning_effort": "high", "max_tokens": 100})
    collect(resolve_route(model="openai/o3-mini", user_id=None), request)
    body = sent(fake_provider)["json"]
    assert "temperature" not in body and body["reasoning_effort"] == "high"


def test_openrouter_attribution_and_reasoning(fake_provider):
    request = ChatRequest(messages=[ChatMessage("user", "q")], params={"reasoning_effort": "low"})
    collect(resolve_route(model="openrouter/anthropic/claude-sonnet-4.5", user_id=None), request)
    request = sent(fake_provider)
    assert request["path"] == "/openrouter/chat/completions"
    assert request["headers"]["http-referer"] == "http://127.0.0.1:8000"
    assert request["headers"]["x-title"] == "Parley"
    assert request["json"]["model"] == "anthropic/claude-sonnet-4.5"
    assert request["json"]["reasoning"] == {"effort": "low"}
    assert request["json"]["usage"] == {"include": True}


def test_deepseek_gets_no_reasoning_back_in_history(fake_provider):
    request = ChatRequest(messages=[ChatMessage("user", "q"), ChatMessage("assistant", "a", reasoning="hidden"),
                                    ChatMessage("user", "q2")])
    collect(resolve_route(model="deepseek/deepseek-reasoner", user_id=None), request)
    body = sent(fake_provider)["json"]
    assert all("reasoning_content" not in m for m in body["messages"])


def test_anthropic_request(fake_provider):
    collect(resolve_route(model="anthropic/echo", user_id=None), HISTORY)
    request = sent(fake_provider)
    assert request["headers"]["x-api-key"] == "test-key-anthropic"
    assert request["headers"]["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request["headers"]
    body = request["json"]
    assert body["system"] == "Be brief."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["max_tokens"] == 500 and body["temperature"] == 0.3


def test_anthropic_thinking_budget_and_signed_replay(fake_provider):
    first = collect(resolve_route(model="anthropic/think-4-0", user_id=None),
                    ChatRequest(messages=[ChatMessage("user", "q")], params={"thinking_budget": 2000,
                                                                              "temperature": 0.5}))
    metadata = first.events[-1].metadata
    assert metadata["anthropic_thinking"][0]["signature"]
    fake_provider.clear()
    follow_up = ChatRequest(messages=[ChatMessage("user", "q"),
                                      ChatMessage("assistant", first.text, reasoning=first.reasoning,
                                                  metadata=metadata),
                                      ChatMessage("user", "and then?")], params={"thinking_budget": 2000})
    collect(resolve_route(model="anthropic/echo", user_id=None), follow_up)
    body = sent(fake_provider)["json"]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2000}
    assert body["max_tokens"] > 2000 and "temperature" not in body
    replayed = body["messages"][1]["content"]
    assert replayed[0] == {"type": "thinking", "thinking": "t1 t2 ", "signature": metadata["anthropic_thinking"][0][
        "signature"]}
    assert replayed[1] == {"type": "text", "text": first.text}


def test_gemini_request(fake_provider):
    collect(resolve_route(model="gemini/echo", user_id=None), HISTORY)
    request = sent(fake_provider)
    assert request["path"] == "/gemini/v1beta/models/echo:streamGenerateContent"
    assert request["query"] == "alt=sse"
    assert request["headers"]["x-goog-api-key"] == "test-key-gemini"
    body = request["json"]
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["generationConfig"] == {"temperature": 0.3, "maxOutputTokens": 500}


def test_gemini_thinking_config(fake_provider):
    collect(resolve_route(model="gemini/gemini-2.5-flash", user_id=None),
            ChatRequest(messages=[ChatMessage("user", "q")], params={"reasoning_effort": "low"}))
    assert sent(fake_provider)["json"]["generationConfig"]["thinkingConfig"] == {"includeThoughts": True,
                                                                                 "thinkingBudget": 1024}


# --- whole replies and cost -------------------------------------------------------------------------

def test_complete_chat_collects_the_reply(fake_provider):
    result = asyncio.run(complete_chat(resolve_route(model="openrouter/fake/think-4-0", user_id=None), ask()))
    assert result.text == "w1 w2 w3 w4 " and result.reasoning == "t1 t2 "
    assert result.finish_reason == "stop"
    assert result.usage["completion_tokens"] == 6
    assert result.cost == Decimal("0.000014")  # as OpenRouter reported it: 2 prompt + 6 completion tokens
    assert result.metadata["reasoning_details"][0]["signature"]


def test_complete_chat_raises_provider_errors(fake_provider):
    with pytest.raises(errors.StreamTruncated):
        asyncio.run(complete_chat(resolve_route(model="gemini/truncate-after-2", user_id=None), ask()))


def test_usage_cost_prefers_the_provider_then_the_catalog(db):
    CatalogModel.objects.create(id="openai/gpt-4o", provider="openai", name="GPT-4o", fetched_at=timezone.now(),
                                pricing_prompt=Decimal("0.0000025"), pricing_completion=Decimal("0.00001"))
    usage = {"prompt_tokens": 1000, "completion_tokens": 100}
    assert usage_cost("openai/gpt-4o", usage) == Decimal("0.0035")
    assert usage_cost("openai/gpt-4o", dict(usage, cost=Decimal("0.5"))) == Decimal("0.5")
    assert usage_cost("openai/unknown", usage) is None


@pytest.mark.django_db(transaction=True)
def test_stream_usage_is_priced_from_the_catalog(fake_provider):
    CatalogModel.objects.create(id="openai/echo", provider="openai", name="Echo", fetched_at=timezone.now(),
                                pricing_prompt=Decimal("0.001"), pricing_completion=Decimal("0.002"))
    outcome = collect(resolve_route(model="openai/echo", user_id=None), ask("one two"))
    usage = outcome.of(EventKind.USAGE)[0].data
    assert usage["cost"] == Decimal("0.001") * 2 + Decimal("0.002") * 4


def test_perplexity_is_not_sent_stream_options_and_still_reports_usage(fake_provider):
    outcome = collect(resolve_route(model="perplexity/echo", user_id=None), ask("a b c"))
    assert "stream_options" not in sent(fake_provider)["json"]
    assert outcome.of(EventKind.USAGE)[-1].data["prompt_tokens"] == 3
