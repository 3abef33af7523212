"""Merging conversations and fusing answers through the API, end to end against the fake provider."""
import pytest
from django.utils import timezone

from chats.models import Conversation, Message
from merging.models import MergeHistory, MergeJob
from providers.models import CatalogModel
from tests.merging.conftest import add_conversation, wait_for_job

pytestmark = pytest.mark.usefixtures("fake_provider", "in_process_tasks")


def post_merge(api, **body):
    return api.post("/api/v1/merges/", body, format="json")


def chat_requests(server, model_id: str) -> list[dict]:
    return [r for r in server.requests() if r.get("path", "").endswith("/chat/completions")
            and (r.get("json") or {}).get("model") == model_id]


@pytest.mark.django_db(transaction=True)
def test_merge_runs_in_process_and_keeps_provenance(api, user, two_conversations):
    first, second = two_conversations
    response = post_merge(api, conversation_ids=[str(first.id), str(second.id)], model="openai/merge-tagged")
    assert response.status_code == 202
    assert response.json()["status"] == "queued" and response.json()["id"]

    job = wait_for_job(response.json()["id"])
    assert job.status == "succeeded", job.error
    assert job.progress == 100 and job.attempts == 1

    merged = job.result_conversation
    assert merged.owner == user and merged.title == "Merge of Sorting in Python, Sorting again"
    assert set(merged.merged_from.all()) == {first, second}
    messages = list(merged.messages.order_by("created_at", "id"))
    # The repeated question is said once; both answers survive.
    assert [(m.role, m.content) for m in messages] == [
        ("user", "How do I sort a list of numbers in Python?"),
        ("assistant", "Use sorted(numbers) for a new list, or numbers.sort() to sort in place."),
        ("assistant", "Call numbers.sort(reverse=True) to sort descending; it returns None."),
    ]
    # Each message knows where it came from.
    second_answer = second.messages.get(role="assistant")
    row = MergeHistory.objects.get(result_message=messages[2])
    assert row.source_conversation == second and row.source_message == second_answer
    assert messages[2].metadata["merge"]["source_message_id"] == str(second_answer.id)

    detail = api.get(f"/api/v1/merges/{job.id}/").json()
    assert detail["status"] == "succeeded" and detail["result_conversation_id"] == str(merged.id)
    assert detail["conversation_ids"] == [str(first.id), str(second.id)] and detail["raw_output"] == ""
    assert {row["source_conversation_id"] for row in detail["provenance"]} == {str(first.id), str(second.id)}
    listed = api.get(f"/api/v1/conversations/{merged.id}/").json()
    assert sorted(listed["merged_from"]) == sorted([str(first.id), str(second.id)])


@pytest.mark.django_db(transaction=True)
def test_structured_output_model_gets_the_json_prompt_and_its_sources(api, two_conversations, fake_provider):
    CatalogModel.objects.create(id="openai/merge-json", provider="openai", name="merge json", context_length=100_000,
                                capabilities=["structured_output"], fetched_at=timezone.now())
    first, second = two_conversations
    job_id = post_merge(api, conversation_ids=[str(first.id), str(second.id)], model="openai/merge-json").json()["id"]
    job = wait_for_job(job_id)
    assert job.status == "succeeded", job.error
    last = [m for m in job.result_conversation.messages.order_by("created_at")][-1]
    assert last.metadata["merge"]["source_conversation_ids"] == [str(second.id)]
    [request] = chat_requests(fake_provider, "merge-json")
    assert "JSON object" in request["json"]["messages"][-1]["content"]


@pytest.mark.django_db(transaction=True)
def test_unparseable_answer_is_retried_once(api, two_conversations, fake_provider):
    first, second = two_conversations
    job_id = post_merge(
        api, conversation_ids=[str(first.id), str(second.id)], model="openai/merge-garbage-once").json()["id"]
    job = wait_for_job(job_id)
    assert job.status == "succeeded", job.error
    assert job.output_round == 2
    assert len(chat_requests(fake_provider, "merge-garbage-once")) == 2


@pytest.mark.django_db(transaction=True)
def test_twice_unparseable_fails_keeping_the_raw_answer(api, two_conversations, fake_provider):
    first, second = two_conversations
    job_id = post_merge(
        api, conversation_ids=[str(first.id), str(second.id)], model="openai/merge-garbage").json()["id"]
    job = wait_for_job(job_id)
    assert job.status == "failed" and job.error_code == "unparseable"
    assert len(chat_requests(fake_provider, "merge-garbage")) == 2
    detail = api.get(f"/api/v1/merges/{job_id}/").json()
    assert detail["status"] == "failed" and "could not be parsed" in detail["error"]
    assert detail["raw_output"] == "I am sorry, but I would rather talk about the weather today."
    assert detail["result_conversation_id"] is None
    assert Conversation.objects.filter(title__startswith="Merge of").count() == 0


@pytest.mark.django_db(transaction=True)
def test_long_conversations_are_condensed_in_stages_not_cut(api, user, fake_provider):
    # A 4k context leaves the sources about 1,300 tokens: half of what the two conversations below take.
    CatalogModel.objects.create(id="openai/merge-tagged", provider="openai", name="merge", context_length=4000,
                                capabilities=[], fetched_at=timezone.now())
    long_turns = []
    for index in range(6):
        long_turns.append(("user", f"Question {index}: " + " ".join(f"q{index}w{i}" for i in range(60))))
        long_turns.append(("assistant", f"Insight {index}: " + " ".join(f"a{index}w{i}" for i in range(80))))
    first = add_conversation(user, "Long one", long_turns)
    second = add_conversation(user, "Long two", [(r, c.replace("w", "v")) for r, c in long_turns])
    job = wait_for_job(post_merge(
        api, conversation_ids=[str(first.id), str(second.id)], model="openai/merge-tagged").json()["id"])
    assert job.status == "succeeded", job.error

    requests = chat_requests(fake_provider, "merge-tagged")
    condense = [r for r in requests if r["json"]["messages"][-1]["content"].startswith("Part ")]
    # Each conversation condensed, part by part.
    assert len(condense) >= 4 and any(r["json"]["messages"][-1]["content"].startswith("Part 2 of") for r in condense)
    final = requests[-1]["json"]["messages"][-1]["content"]
    assert final.startswith("Merge these 2 conversations")
    # Nothing was cut: every message's opening words made it through condensing into the merge.
    for index in range(6):
        assert f"Insight {index}: a{index}w0" in final and f"Insight {index}: a{index}v0" in final
    assert len(final) < sum(len(c) for _, c in long_turns) * 2
    merged = job.result_conversation.messages.all()
    assert merged.filter(content__startswith="Insight 5: a5w0").exists()


@pytest.mark.django_db(transaction=True)
def test_fuse_sibling_answers_into_a_selected_answer(api, siblings):
    conversation, question, answers = siblings
    response = post_merge(api, message_ids=[str(a.id) for a in answers], model="openai/merge-tagged")
    assert response.status_code == 202
    job = wait_for_job(response.json()["id"])
    assert job.status == "succeeded", job.error
    fused = job.result_message
    assert fused.conversation == conversation and fused.reply_to == question and fused.selected
    assert fused.content == "Fused answer: Two is the only even prime. Seven is prime. Thirteen is prime too."
    assert not Message.objects.filter(reply_to=question, selected=True).exclude(pk=fused.pk).exists()
    assert {row.source_message_id for row in MergeHistory.objects.filter(result_message=fused)} == {
        a.id for a in answers}
    assert api.get(f"/api/v1/merges/{job.id}/").json()["result_message_id"] == str(fused.id)


@pytest.mark.django_db(transaction=True)
def test_double_submit_makes_one_job(api, two_conversations):
    first, second = two_conversations
    body = {"conversation_ids": [str(first.id), str(second.id)], "model": "openai/merge-tagged"}
    one, two = post_merge(api, **body), post_merge(api, **body)
    assert one.status_code == two.status_code == 202
    assert one.json()["id"] == two.json()["id"]
    wait_for_job(one.json()["id"])
    assert MergeJob.objects.count() == 1
    assert Conversation.objects.filter(title__startswith="Merge of").count() == 1
    # A different request is a different job.
    three = post_merge(api, **body, instructions="Keep it short.")
    assert three.json()["id"] != one.json()["id"]
    wait_for_job(three.json()["id"])


@pytest.mark.django_db(transaction=True)
def test_a_redelivered_job_writes_its_result_once(user, two_conversations):
    from merging.services import merge_job_run

    first, second = two_conversations
    # As if a worker claimed it and was killed mid-merge: running, one delivery spent, nothing written.
    job = MergeJob.objects.create(owner=user, kind="conversations", model="openai/merge-tagged",
                                  source_ids=[str(first.id), str(second.id)], request_digest="x",
                                  status="running", attempts=1, progress=50, stage="Merging")
    merge_job_run(job_id=job.id)
    merge_job_run(job_id=job.id)  # the broker delivers it yet again
    job.refresh_from_db()
    assert job.status == "succeeded" and job.attempts == 2
    assert Conversation.objects.filter(title__startswith="Merge of").count() == 1
    assert MergeHistory.objects.filter(result_conversation=job.result_conversation).count() == 2


@pytest.mark.django_db(transaction=True)
def test_unfinished_jobs_are_resumed_at_start_up_without_a_broker(user, two_conversations):
    from merging.services import merge_jobs_resume

    first, second = two_conversations
    # Left by a server that stopped mid-merge (embedded configuration: the job ran on one of its threads).
    job = MergeJob.objects.create(owner=user, kind="conversations", model="openai/merge-tagged",
                                  source_ids=[str(first.id), str(second.id)], request_digest="r",
                                  status="running", attempts=1)
    done = MergeJob.objects.create(owner=user, kind="conversations", model="openai/merge-tagged",
                                   source_ids=[str(first.id), str(second.id)], request_digest="s",
                                   status="failed", error="earlier")
    assert merge_jobs_resume() == 1
    job = wait_for_job(job.id)
    assert job.status == "succeeded" and job.attempts == 2
    done.refresh_from_db()
    assert done.status == "failed" and done.error == "earlier"


@pytest.mark.django_db(transaction=True)
def test_long_answers_are_condensed_before_fusing(api, siblings, fake_provider):
    CatalogModel.objects.create(id="openai/merge-tagged", provider="openai", name="merge", context_length=3000,
                                capabilities=[], fetched_at=timezone.now())
    conversation, question, answers = siblings
    for index, answer in enumerate(answers):
        answer.content = f"Point {index}: " + " ".join(f"p{index}x{i}" for i in range(400))
        answer.save()
    job = wait_for_job(post_merge(api, message_ids=[str(a.id) for a in answers], model="openai/merge-tagged")
                       .json()["id"])
    assert job.status == "succeeded", job.error
    requests = chat_requests(fake_provider, "merge-tagged")
    assert sum(r["json"]["messages"][-1]["content"].startswith("Part ") for r in requests) >= 3
    fuse_prompt = requests[-1]["json"]["messages"][-1]["content"]
    assert fuse_prompt.startswith("The question:")
    for index in range(3):
        assert f"Point {index}: p{index}x0" in fuse_prompt and f"p{index}x399" not in fuse_prompt
    assert job.result_message.content.startswith("Fused answer: Point 0: p0x0")


@pytest.mark.django_db(transaction=True)
def test_a_database_hiccup_retries_the_job_instead_of_failing_it(user, two_conversations, monkeypatch):
    from django.db import OperationalError

    from merging import services
    from merging.tasks import run_merge

    first, second = two_conversations
    job = MergeJob.objects.create(owner=user, kind="conversations", model="openai/merge-tagged",
                                  source_ids=[str(first.id), str(second.id)], request_digest="h")
    real, calls = services._load_conversation_sources, []

    def flaky(job):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(job)

    monkeypatch.setattr(services, "_load_conversation_sources", flaky)
    run_merge.apply(args=[str(job.id)])
    job.refresh_from_db()
    assert job.status == "succeeded" and job.attempts == 2 and len(calls) == 2


@pytest.mark.django_db(transaction=True)
def test_a_job_that_keeps_being_interrupted_fails_in_the_end(user, two_conversations, monkeypatch):
    from django.db import OperationalError

    from merging import services
    from merging.tasks import run_merge

    first, second = two_conversations
    job = MergeJob.objects.create(owner=user, kind="conversations", model="openai/merge-tagged",
                                  source_ids=[str(first.id), str(second.id)], request_digest="i")

    def broken(job):
        raise OperationalError("the database is gone")

    monkeypatch.setattr(services, "_load_conversation_sources", broken)
    run_merge.apply(args=[str(job.id)])
    job.refresh_from_db()
    assert job.status == "failed" and job.error_code == "interrupted"
    assert job.attempts == services.MAX_DELIVERIES + 1
