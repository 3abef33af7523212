"""End-to-end: every provider's stream over a real socket to the fake provider, through the gateway."""
import pytest

from providers import errors
from providers.events import EventKind
from providers.gateway import resolve_route
from tests.providers.streaming import ALL_PROVIDERS, ask, collect, model_name

PROVIDERS_UNDER_TEST = ALL_PROVIDERS

pytestmark = pytest.mark.django_db


def route_for(provider: str, behaviour: str):
    return resolve_route(model=model_name(provider, behaviour), user_id=None)


@pytest.mark.parametrize("provider", PROVIDERS_UNDER_TEST)
def test_text_streams_with_usage_and_finish(fake_provider, provider):
    outcome = collect(route_for(provider, "echo"), ask("how are you"))
    assert outcome.error is None
    assert outcome.text == "You said: how are you"
    assert len(outcome.of(EventKind.TEXT)) > 1
    usage = outcome.of(EventKind.USAGE)[-1].data
    assert usage["prompt_tokens"] == 3 and usage["completion_tokens"] == 4
    assert outcome.events[-1].kind is EventKind.FINISH
    assert outcome.events[-1].data["finish_reason"] == "stop"


@pytest.mark.parametrize("provider", PROVIDERS_UNDER_TEST)
def test_reasoning_arrives_separately_from_text(fake_provider, provider):
    outcome = collect(route_for(provider, "think-4-0"))
    assert outcome.error is None
    assert outcome.reasoning == "t1 t2 "
    assert outcome.text == "w1 w2 w3 w4 "
    first_text = next(i for i, e in enumerate(outcome.events) if e.kind is EventKind.TEXT)
    last_reasoning = max(i for i, e in enumerate(outcome.events) if e.kind is EventKind.REASONING)
    assert last_reasoning < first_text
    # Anthropic counts thinking inside output_tokens and reports no separate figure.
    assert outcome.of(EventKind.USAGE)[-1].data["reasoning_tokens"] == (0 if provider == "anthropic" else 2)


@pytest.mark.parametrize("provider", PROVIDERS_UNDER_TEST)
def test_story_text_is_exact(fake_provider, provider):
    outcome = collect(route_for(provider, "story-7-0"))
    assert outcome.text == "".join(f"w{i} " for i in range(1, 8))


@pytest.mark.parametrize("provider", PROVIDERS_UNDER_TEST)
@pytest.mark.parametrize(
    ("behaviour", "error_class", "retryable"),
    [
        ("badkey", errors.InvalidApiKey, False),
        ("nocredit", errors.InsufficientCredit, False),
        ("notjson", errors.UpstreamServerError, True),
    ],
)
def test_refusals_before_the_stream_map_to_error_classes(fake_provider, provider, behaviour, error_class, retryable):
    outcome = collect(route_for(provider, behaviour))
    assert isinstance(outcome.error, error_class), outcome.error
    assert outcome.error.retryable is retryable
    assert outcome.events == []
    assert "test-key" not in outcome.error.message


@pytest.mark.parametrize("provider", PROVIDERS_UNDER_TEST)
def test_error_inside_the_stream_keeps_partial_text(fake_provider, provider):
    outcome = collect(route_for(provider, "fail-after-3"))
    assert outcome.text == "w1 w2 w3 "
    assert isinstance(outcome.error, errors.ProviderError)
    assert not isinstance(outcome.error, errors.StreamTruncated)


@pytest.mark.parametrize("provider", PROVIDERS_UNDER_TEST)
def test_stream_without_end_marker_is_truncated_not_success(fake_provider, provider):
    outcome = collect(route_for(provider, "truncate-after-2"))
    assert outcome.text == "w1 w2 "
    assert isinstance(outcome.error, errors.StreamTruncated)
    assert not outcome.of(EventKind.FINISH)


@pytest.mark.parametrize("provider", PROVIDERS_UNDER_TEST)
def test_multibyte_text_split_across_writes_arrives_intact(fake_provider, provider):
    outcome = collect(route_for(provider, "utf8"))
    assert outcome.error is None
    assert outcome.text == "héllo wörld — 日本語 🎉 ok"


@pytest.mark.parametrize("provider", PROVIDERS_UNDER_TEST)
def test_tool_call_fragments_are_assembled(fake_provider, provider):
    outcome = collect(route_for(provider, "tools"))
    assert outcome.error is None
    (call,) = outcome.of(EventKind.TOOL_CALL)
    assert call.data["name"] == "get_weather"
    assert call.data["arguments"] == '{"city": "Paris", "unit": "celsius"}'
    assert outcome.events[-1].data["finish_reason"] == "tool_calls"


@pytest.mark.parametrize("provider", PROVIDERS_UNDER_TEST)
def test_citations(fake_provider, provider):
    outcome = collect(route_for(provider, "cite"))
    assert outcome.error is None
    citations = outcome.of(EventKind.CITATIONS)[-1].data["citations"]
    urls = [c["url"] if isinstance(c, dict) else c for c in citations]
    assert urls == ["https://example.com/one", "https://example.org/two"]
