"""Budgets refuse compare, merge and gateway calls before a provider is called; compare answers, merge calls and
gateway calls are usage rows; the compare estimate."""
import json
from decimal import Decimal

import httpx
import openai
import pytest
import websockets
from asgiref.sync import sync_to_async

from accounts.services import api_token_create
from chats.models import Conversation
from tests.merging.conftest import add_conversation, wait_for_job
from tests.usage.conftest import price, spent
from usage.models import UsageRecord
from usage.services import user_budget_set

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fake_provider")]


@pytest.fixture
def auth(user) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token_create(user=user, name='usage')[1]}"}


def use_up(user):
    user_budget_set(user_id=user.pk, monthly_budget=Decimal("1"))
    spent(user, "1")


def test_compare_answers_are_usage_rows_and_a_used_up_budget_refuses_the_compare(live_asgi, auth, user,
                                                                                fake_provider):
    price("openai/story-4-0", "0.001", "0.001")
    models = ["openai/story-4-0", "gemini/echo"]
    response = httpx.post(f"{live_asgi.url}/api/v1/compare/", json={"prompt": "Hi there", "models": models},
                          headers=auth, timeout=30)
    assert response.status_code == 200
    rows = {row.model: row for row in UsageRecord.objects.filter(kind="compare")}
    assert set(rows) == set(models) and rows["openai/story-4-0"].cost == Decimal("0.006")
    conversation_id = response.json()["conversation_id"]
    assert {str(row.conversation_id) for row in rows.values()} == {conversation_id}

    use_up(user)
    before = len(fake_provider.requests())
    refused = httpx.post(f"{live_asgi.url}/api/v1/compare/", json={"prompt": "Again", "models": models},
                         headers=auth, timeout=30)
    assert refused.status_code == 402 and refused.json()["code"] == "budget_exceeded"
    assert len(fake_provider.requests()) == before
    assert Conversation.objects.filter(owner=user).count() == 1


async def test_compare_over_websocket_is_refused_too(live_asgi, auth, user, fake_provider):
    await sync_to_async(use_up)(user)
    async with websockets.connect(f"{live_asgi.ws_url}/ws/compare/", additional_headers=auth,
                                  origin=live_asgi.url) as socket:
        await socket.send(json.dumps({"type": "compare", "prompt": "Hi", "models": ["openai/story-3-0"]}))
        error = json.loads(await socket.recv())
    assert error["type"] == "error" and error["code"] == "budget_exceeded"
    assert fake_provider.requests() == []


@pytest.fixture
def in_process_tasks(settings):
    settings.CELERY_BROKER_URL = ""


def test_each_merge_call_is_a_usage_row_and_a_used_up_budget_refuses_the_merge(api, user, in_process_tasks,
                                                                               fake_provider):
    first = add_conversation(user, "One", [("user", "Q one?"), ("assistant", "A one.")])
    second = add_conversation(user, "Two", [("user", "Q two?"), ("assistant", "A two.")])
    body = {"conversation_ids": [str(first.id), str(second.id)], "model": "openai/merge-tagged"}
    created = api.post("/api/v1/merges/", body, format="json")
    assert created.status_code == 202
    assert wait_for_job(created.json()["id"]).status == "succeeded"
    calls = list(UsageRecord.objects.filter(kind="merge", owner=user))
    assert calls and all(call.model == "openai/merge-tagged" and call.status == "complete" for call in calls)
    assert all(call.prompt_tokens > 0 for call in calls)

    use_up(user)
    before = len(fake_provider.requests())
    refused = api.post("/api/v1/merges/", dict(body, instructions="again"), format="json")
    assert refused.status_code == 402 and refused.json()["code"] == "budget_exceeded"
    assert len(fake_provider.requests()) == before


def test_the_gateway_refuses_calls_once_the_budget_is_used_up(live_asgi, user, fake_provider):
    token, raw = api_token_create(user=user, name="sdk")
    client = openai.OpenAI(base_url=f"{live_asgi.url}/v1", api_key=raw, max_retries=0)
    client.chat.completions.create(model="openai/echo", messages=[{"role": "user", "content": "hi"}])
    assert UsageRecord.objects.get(kind="gateway").token_id == token.pk
    use_up(user)
    with pytest.raises(openai.APIStatusError) as refused:
        client.chat.completions.create(model="openai/echo", messages=[{"role": "user", "content": "hi"}])
    assert refused.value.status_code == 402 and refused.value.body["code"] == "budget_exceeded"
    assert UsageRecord.objects.filter(kind="gateway").count() == 1


def test_compare_estimate_gives_prompt_and_maximum_costs(api, user):
    price("openai/story-4-0", "0.001", "0.002")
    conversation = add_conversation(user, "History", [("user", "x" * 400), ("assistant", "y" * 400)])
    conversation.params = {"max_tokens": 100}
    conversation.save()
    response = api.post("/api/v1/compare/estimate/", {
        "prompt": "p" * 40, "models": ["openai/story-4-0", "openai/gpt-4o", "openai/unpriced"],
        "conversation_id": str(conversation.pk)}, format="json")
    assert response.status_code == 200, response.json()
    estimates = {row["model"]: row for row in response.json()["models"]}
    priced = estimates["openai/story-4-0"]
    assert priced["prompt_tokens"] == 100 + 100 + 10 + 3 * 3  # history and prompt, four characters a token
    assert priced["max_completion_tokens"] == 100
    assert priced["prompt_cost"] == pytest.approx(0.001 * priced["prompt_tokens"])
    assert priced["max_cost"] == pytest.approx(0.001 * priced["prompt_tokens"] + 0.002 * 100)
    assert estimates["openai/gpt-4o"]["prompt_cost"] == pytest.approx(2.5e-6 * priced["prompt_tokens"])
    assert estimates["openai/unpriced"]["prompt_cost"] is None and estimates["openai/unpriced"]["max_cost"] is None


@pytest.mark.parametrize("body,status,code", [
    ({"prompt": "hi", "models": ["nope"]}, 400, "invalid_model"),
    ({"prompt": "hi", "models": ["openai/a", "openai/a"]}, 400, "duplicate_models"),
    ({"prompt": "", "models": ["openai/a"]}, 400, "blank"),
    ({"prompt": "hi", "models": ["openai/a"], "conversation_id": "00000000-0000-0000-0000-000000000000"}, 404,
     "not_found"),
    ({"prompt": "hi", "colour": "red"}, 400, "unknown_field"),
])
def test_bad_estimates_are_clear_errors(api, body, status, code):
    response = api.post("/api/v1/compare/estimate/", body, format="json")
    assert response.status_code == status and response.json()["code"] == code
