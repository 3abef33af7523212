"""Bad merge requests answer a clear 4xx and create no job; other users' jobs and messages are 404."""
import uuid

import pytest

from merging.models import MergeJob
from tests.merging.conftest import add_conversation

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_provider")]


def post_merge(api, body):
    return api.post("/api/v1/merges/", body, format="json")


@pytest.fixture
def no_anthropic_key(settings):
    settings.PARLEY_PROVIDER_ENV = {
        **settings.PARLEY_PROVIDER_ENV, "anthropic": {"api_key": "", "base_url": "http://127.0.0.1:9/anthropic"}}


@pytest.mark.parametrize("case, status, code", [
    ("one", 400, "too_few_sources"),
    ("duplicate", 400, "duplicate_ids"),
    ("foreign", 404, "not_found"),
    ("missing", 404, "not_found"),
    ("malformed", 404, "not_found"),
    ("empty", 400, "empty_conversation"),
    ("bad_model_name", 400, "invalid_model"),
    ("unknown_provider", 400, "unknown_provider"),
    ("no_key", 400, "provider_not_configured"),
    ("both_kinds", 400, "invalid_sources"),
    ("unknown_field", 400, "unknown_field"),
    ("no_model", 400, "required"),
])
def test_bad_input_makes_no_job(api, user, other_user, two_conversations, no_anthropic_key, case, status, code):
    first, second = two_conversations
    ids = [str(first.id), str(second.id)]
    foreign = add_conversation(other_user, "theirs", [("user", "hi"), ("assistant", "hello")])
    empty = add_conversation(user, "empty", [])
    body = {"conversation_ids": ids, "model": "openai/merge-tagged"}
    body.update({
        "one": {"conversation_ids": ids[:1]},
        "duplicate": {"conversation_ids": [ids[0], ids[0]]},
        "foreign": {"conversation_ids": [ids[0], str(foreign.id)]},
        "missing": {"conversation_ids": [ids[0], str(uuid.uuid4())]},
        "malformed": {"conversation_ids": [ids[0], "not-a-uuid"]},
        "empty": {"conversation_ids": [ids[0], str(empty.id)]},
        "bad_model_name": {"model": "no-slash"},
        "unknown_provider": {"model": "nosuchprovider/model"},
        "no_key": {"model": "anthropic/claude-sonnet-4-5"},
        "both_kinds": {"message_ids": ids},
        "unknown_field": {"colour": "blue"},
    }.get(case, {}))
    if case == "no_model":
        del body["model"]
    response = post_merge(api, body)
    assert (response.status_code, response.json()["code"]) == (status, code), response.json()
    assert response.json()["detail"]
    assert MergeJob.objects.count() == 0


@pytest.mark.parametrize("case, code", [
    ("not_siblings", "not_siblings"), ("a_question", "not_an_answer"), ("empty", "empty_message"),
    ("one", "too_few_sources"),
])
def test_bad_fusions_make_no_job(api, user, siblings, case, code):
    conversation, question, answers = siblings
    other = add_conversation(user, "other", [("user", "q"), ("assistant", "another answer")])
    ids = {
        "not_siblings": [str(answers[0].id), str(other.messages.get(role="assistant").id)],
        "a_question": [str(answers[0].id), str(question.id)],
        "one": [str(answers[0].id)],
    }.get(case)
    if case == "empty":
        answers[1].content = ""
        answers[1].save()
        ids = [str(answers[0].id), str(answers[1].id)]
    response = post_merge(api, {"message_ids": ids, "model": "openai/merge-tagged"})
    assert (response.status_code, response.json()["code"]) == (400, code)
    assert MergeJob.objects.count() == 0


def test_fusing_someone_elses_answers_is_404(other_api, siblings):
    _, _, answers = siblings
    response = post_merge(other_api, {"message_ids": [str(a.id) for a in answers], "model": "openai/merge-tagged"})
    assert response.status_code == 404
    assert MergeJob.objects.count() == 0


def test_jobs_belong_to_their_owner(api, other_api, user):
    job = MergeJob.objects.create(owner=user, kind="conversations", model="openai/merge-tagged",
                                  source_ids=[], request_digest="d", status="succeeded", progress=100)
    assert api.get(f"/api/v1/merges/{job.id}/").status_code == 200
    assert [j["id"] for j in api.get("/api/v1/merges/").json()["results"]] == [str(job.id)]
    for path in (f"/api/v1/merges/{job.id}/", f"/api/v1/merges/{job.id}/stream/", "/api/v1/merges/nope/"):
        response = other_api.get(path)
        assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert other_api.get("/api/v1/merges/").json()["results"] == []


def test_select_picks_the_answer_to_continue_from(api, other_api, siblings):
    _, question, answers = siblings
    response = api.post(f"/api/v1/messages/{answers[2].id}/select/")
    assert response.status_code == 200 and response.json()["selected"] is True
    assert [m.selected for m in question.replies.order_by("created_at")] == [False, False, True]
    assert other_api.post(f"/api/v1/messages/{answers[1].id}/select/").status_code == 404
    # Any message can be selected (SPEC §8): a question without other versions changes nothing below it.
    assert api.post(f"/api/v1/messages/{question.id}/select/").status_code == 200
    assert [m.selected for m in question.replies.order_by("created_at")] == [False, False, True]
