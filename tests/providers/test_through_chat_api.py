"""Every provider through Parley's own API on a live server: replies stored with reasoning and usage; failures
keep their partial text; a stored thinking signature goes back to Anthropic on the next turn."""
import httpx
import pytest

from accounts.services import api_token_create
from chats.models import Message
from tests.chats.streaming_client import bearer, read_events, text_of
from tests.providers.streaming import ALL_PROVIDERS, model_name

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def token(django_user_model):
    user = django_user_model.objects.create_user("carol", password="correct horse battery staple")
    _, raw = api_token_create(user=user, name="providers")
    return raw


async def complete(server, token, model, content="Tell me"):
    async with httpx.AsyncClient(base_url=server.url, headers=bearer(token), timeout=30) as client:
        conversation = (await client.post("/api/v1/conversations/", json={})).json()
        async with client.stream("POST", f"/api/v1/conversations/{conversation['id']}/completions/",
                                 json={"content": content, "model": model}) as response:
            assert response.status_code == 200
            events = await read_events(response)
    message = await Message.objects.aget(pk=events[-1]["message_id"])
    return conversation, events, message


@pytest.mark.parametrize("provider", ALL_PROVIDERS)
async def test_reply_with_reasoning_and_usage_is_stored(live_asgi, fake_provider, token, provider):
    _, events, message = await complete(live_asgi, token, model_name(provider, "think-4-0"))
    assert text_of(events) == "w1 w2 w3 w4 "
    assert "".join(e.get("reasoning", "") for e in events if e["type"] == "reasoning") == "t1 t2 "
    assert events[-1]["status"] == "complete"
    assert (message.content, message.reasoning, message.status) == ("w1 w2 w3 w4 ", "t1 t2 ", "complete")
    assert message.usage["completion_tokens"] == 6 and message.usage["prompt_tokens"] >= 1


@pytest.mark.parametrize("provider", ALL_PROVIDERS)
@pytest.mark.parametrize("behaviour", ["fail-after-3", "truncate-after-3"])
async def test_failures_keep_partial_text(live_asgi, fake_provider, token, provider, behaviour):
    _, events, message = await complete(live_asgi, token, model_name(provider, behaviour))
    errors = [e for e in events if e["type"] == "error"]
    assert errors and errors[0]["code"] and errors[0]["message"]
    assert message.status == "failed" and message.content == "w1 w2 w3 "


async def test_anthropic_thinking_signature_is_replayed_next_turn(live_asgi, fake_provider, token):
    conversation, _, first = await complete(live_asgi, token, "anthropic/think-4-0")
    fake_provider.clear()
    async with httpx.AsyncClient(base_url=live_asgi.url, headers=bearer(token), timeout=30) as client:
        async with client.stream("POST", f"/api/v1/conversations/{conversation['id']}/completions/",
                                 json={"content": "More", "model": "anthropic/echo"}) as response:
            await read_events(response)
    (sent,) = [r for r in fake_provider.requests() if r["path"] == "/anthropic/v1/messages"]
    assistant = sent["json"]["messages"][1]
    assert assistant["role"] == "assistant"
    assert assistant["content"][0]["type"] == "thinking" and assistant["content"][0]["signature"]
    assert assistant["content"][1] == {"type": "text", "text": first.content}
