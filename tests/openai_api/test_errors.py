"""Gateway refusals in OpenAI's shape, with the statuses and the openai SDK exceptions that follow from them."""
import httpx
import openai
import pytest

from accounts.services import api_token_revoke
from openai_api.models import GatewayCall
from providers.registry import PROVIDERS

HI = [{"role": "user", "content": "hi"}]


def refused(call, exception):
    with pytest.raises(exception) as caught:
        call()
    error = caught.value
    assert set(error.body) >= {"message", "type", "code"}
    return error


def test_missing_and_wrong_tokens_are_401_authentication_errors(gateway):
    error = refused(lambda: gateway.client(api_key="pk_not-a-real-token").chat.completions.create(
        model="openai/echo", messages=HI), openai.AuthenticationError)
    assert error.status_code == 401 and error.code == "invalid_api_key"
    response = httpx.post(f"{gateway.url}/v1/chat/completions", json={"model": "openai/echo", "messages": HI})
    assert response.status_code == 401 and response.json()["error"]["code"] == "missing_api_key"
    assert not GatewayCall.objects.exists()


def test_a_revoked_token_stops_working(gateway):
    client = gateway.client()
    assert client.chat.completions.create(model="openai/echo", messages=HI).choices[0].message.content
    assert api_token_revoke(user=gateway.user, token_id=gateway.token.pk)
    error = refused(lambda: client.chat.completions.create(model="openai/echo", messages=HI),
                    openai.AuthenticationError)
    assert error.code == "invalid_api_key"
    refused(lambda: client.models.list(), openai.AuthenticationError)


def test_unknown_provider_is_404_model_not_found(gateway):
    error = refused(lambda: gateway.client().chat.completions.create(model="nosuch/model", messages=HI),
                    openai.NotFoundError)
    assert error.code == "unknown_provider" and error.param == "model"


def test_a_model_without_a_key_is_404_and_not_listed(gateway, settings):
    env = dict(settings.PARLEY_PROVIDER_ENV)
    env["xai"] = {"base_url": env["xai"]["base_url"], "api_key": ""}
    settings.PARLEY_PROVIDER_ENV = env
    error = refused(lambda: gateway.client().chat.completions.create(model="xai/echo", messages=HI),
                    openai.NotFoundError)
    assert error.code == "provider_not_configured"
    assert "xAI" in error.message or "xai" in error.message.lower()
    listed = {model.id for model in gateway.client().models.list()}
    assert not any(model.startswith("xai/") for model in listed)


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "openai/echo", "messages": []}, "messages"),
    ({"model": "openai/echo", "messages": HI, "temperature": 5}, "temperature"),
    ({"model": "openai/echo", "messages": HI, "n": 3}, "n"),
    ({"model": "openai/echo", "messages": HI, "logprobs": True}, "logprobs"),
    ({"model": "openai/echo", "messages": HI, "stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"model": "openai/echo", "messages": HI, "tool_choice": {"type": "function", "function": {"name": "x"}}},
     "tool_choice"),
    ({"model": "openai/echo", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
    ({"model": "openai/echo", "messages": [{"role": "user", "content": "x"},
                                           {"role": "tool", "content": "r"}]}, "messages[1].tool_call_id"),
    ({"model": "anthropic/echo", "messages": HI, "seed": 7}, "seed"),
    ({"model": "bad-name", "messages": HI}, None),
])
def test_bad_input_is_400_and_nothing_is_sent(gateway, fake_provider, body, param):
    client = gateway.client()
    error = refused(lambda: client.post("/chat/completions", body=body, cast_to=httpx.Response),
                    openai.BadRequestError)
    assert error.status_code == 400
    if param:
        assert error.param == param
    assert fake_provider.requests() == []


def test_not_json_is_400(gateway):
    response = httpx.post(f"{gateway.url}/v1/chat/completions", content=b"{nope",
                          headers={"Authorization": f"Bearer {gateway.raw_token}", "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(("model", "exception", "status", "retry"), [
    ("openai/ratelimit", openai.RateLimitError, 429, "true"),
    ("anthropic/overloaded", openai.InternalServerError, 503, "true"),
    ("gemini/badkey", openai.InternalServerError, 502, "false"),
    ("openai/notjson", openai.InternalServerError, 502, "true"),
])
@pytest.mark.parametrize("stream", [False, True])
def test_provider_refusals_keep_their_status_so_sdk_retries_work(gateway, model, exception, status, retry, stream):
    error = refused(lambda: gateway.client().chat.completions.create(model=model, messages=HI, stream=stream),
                    exception)
    assert error.status_code == status
    assert error.response.headers["x-should-retry"] == retry
    assert "test-key" not in error.message
    assert GatewayCall.objects.get().status == "failed"


def test_the_sdk_retries_a_rate_limit_and_then_succeeds(gateway, fake_provider, settings):
    settings.PARLEY_PROVIDER_MAX_RETRIES = 0  # Parley passes the 429 on at once; the SDK retries it
    client = gateway.client(max_retries=2)
    completion = client.chat.completions.create(model="openai/ratelimit-once", messages=HI)
    assert completion.choices[0].message.content == "w1 w2 w3 w4 w5 "


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_an_error_inside_the_stream_ends_it_with_an_error_the_sdk_raises(gateway, provider):
    stream = gateway.client().chat.completions.create(model=f"{provider}/fail-after-2", messages=HI, stream=True)
    text = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            text.append(chunk.choices[0].delta.content or "")
    assert "".join(text) == "w1 w2 "
    assert caught.value.body["code"] and caught.value.body["type"]
    row = GatewayCall.objects.get()
    assert row.status == "failed" and row.error_code


def test_models_lists_what_the_caller_can_use_and_fusion(gateway):
    models = list(gateway.client().models.list())
    ids = {model.id for model in models}
    assert {"openai/echo", "anthropic/echo", "gemini/echo", "parley/fusion"} <= ids
    assert all(model.object == "model" and model.owned_by for model in models)
    assert {model.owned_by for model in models} <= set(PROVIDERS) | {"parley"}


def test_other_methods_are_405(gateway):
    response = httpx.get(f"{gateway.url}/v1/chat/completions",
                         headers={"Authorization": f"Bearer {gateway.raw_token}"})
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"


def test_unknown_v1_paths_are_openai_shaped_404s(gateway):
    response = httpx.post(f"{gateway.url}/v1/embeddings", json={"input": "x"},
                          headers={"Authorization": f"Bearer {gateway.raw_token}"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    with_slash = httpx.get(f"{gateway.url}/v1/models/", headers={"Authorization": f"Bearer {gateway.raw_token}"})
    assert with_slash.status_code == 200 and with_slash.json()["object"] == "list"
