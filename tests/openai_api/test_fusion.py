"""The parley/fusion virtual model: several models at once, one judge, one fused answer streamed like any other."""
import openai
import pytest

from openai_api.models import GatewayCall

QUESTION = [{"role": "user", "content": "What is a CRDT?"}]
FUSION = {"models": ["openai/echo", "anthropic/story-3-0", "gemini/badkey"], "judge": "openai/merge-tagged"}


@pytest.mark.parametrize("stream", [True, False])
def test_three_models_with_one_failing_are_fused_into_one_answer(gateway, fake_provider, stream):
    client = gateway.client()
    if stream:
        chunks = list(client.chat.completions.create(model="parley/fusion", messages=QUESTION, stream=True,
                                                     stream_options={"include_usage": True},
                                                     extra_body={"parley": FUSION}))
        answer = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert {c.model for c in chunks} == {"parley/fusion"}
        assert chunks[-2].choices[0].finish_reason == "stop" and chunks[-1].usage.completion_tokens > 0
    else:
        completion = client.chat.completions.create(model="parley/fusion", messages=QUESTION,
                                                    extra_body={"parley": FUSION})
        answer = completion.choices[0].message.content
        assert completion.model == "parley/fusion"
    assert answer.startswith("Fused answer: ")
    assert "You said: What is a CRDT?" in answer and "w1 w2 w3" in answer

    judge_prompt = next(r["json"]["messages"][-1]["content"] for r in fake_provider.requests()
                        if r["json"] and r["json"].get("model") == "merge-tagged")
    assert judge_prompt.startswith("The question:\nWhat is a CRDT?")
    assert "gemini/badkey" in judge_prompt and "failed" in judge_prompt
    assert "=== Answer 1 (openai/echo) ===" in judge_prompt and "(anthropic/story-3-0)" in judge_prompt

    rows = {row.model: row for row in GatewayCall.objects.all()}
    assert set(rows) == {*FUSION["models"], FUSION["judge"]}
    assert {row.via for row in rows.values()} == {"parley/fusion"}
    assert rows["gemini/badkey"].status == "failed" and rows["gemini/badkey"].error_code == "invalid_api_key"
    assert all(rows[m].status == "complete" for m in ("openai/echo", "anthropic/story-3-0", "openai/merge-tagged"))
    assert rows["openai/merge-tagged"].stream == stream
    assert all(row.owner_id == gateway.user.pk and row.token_id == gateway.token.pk for row in rows.values())


def test_the_models_run_concurrently(gateway, fake_provider):
    fusion = {"models": ["openai/slow-first-1000", "anthropic/slow-first-1000"], "judge": "openai/merge-tagged"}
    gateway.client().chat.completions.create(model="parley/fusion", messages=QUESTION, extra_body={"parley": fusion})
    slow = [r for r in fake_provider.requests() if (r["json"] or {}).get("model") == "slow-first-1000"]
    assert len(slow) == 2
    # Both had been sent before either had answered.
    assert max(r["at"] for r in slow) < min(r["completed_at"] for r in slow)


def test_when_every_model_fails_the_fusion_is_a_502(gateway, fake_provider):
    fusion = {"models": ["openai/badkey", "gemini/badkey"], "judge": "openai/merge-tagged"}
    with pytest.raises(openai.InternalServerError) as caught:
        gateway.client().chat.completions.create(model="parley/fusion", messages=QUESTION,
                                                 extra_body={"parley": fusion})
    assert caught.value.status_code == 502 and caught.value.code == "fusion_failed"
    assert not any((r["json"] or {}).get("model") == "merge-tagged" for r in fake_provider.requests())
    assert GatewayCall.objects.filter(status="failed").count() == 2


@pytest.mark.parametrize(("extra", "exception"), [
    ({}, openai.BadRequestError),
    ({"parley": {"models": ["openai/echo"]}}, openai.BadRequestError),
    ({"parley": {"models": ["openai/echo", "openai/echo"], "judge": "openai/echo"}}, openai.BadRequestError),
    ({"parley": {"models": ["openai/echo", "nosuch/x"], "judge": "openai/echo"}}, openai.NotFoundError),
    ({"parley": {"models": ["openai/echo"], "judge": "nosuch/judge"}}, openai.NotFoundError),
])
def test_a_bad_fusion_is_refused_before_any_model_runs(gateway, fake_provider, extra, exception):
    with pytest.raises(exception):
        gateway.client().chat.completions.create(model="parley/fusion", messages=QUESTION, extra_body=extra)
    assert fake_provider.requests() == []
    assert not GatewayCall.objects.exists()


def test_parley_options_only_go_with_the_fusion_model(gateway):
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client().chat.completions.create(model="openai/echo", messages=QUESTION,
                                                 extra_body={"parley": FUSION})
    assert caught.value.param == "parley"
