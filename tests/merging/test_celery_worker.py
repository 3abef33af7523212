"""Merges on a REAL Celery worker process against Redis: progress reaches the web process's SSE clients, and a
worker killed with SIGKILL mid-merge is replaced by another that finishes the job with exactly one result."""
import time

import httpx
import pytest

from chats.models import Conversation
from merging.models import MergeHistory, MergeJob
from tests.chats.streaming_client import parse_sse
from tests.fixtures.fake_provider import fake_provider_env
from tests.fixtures.faults import wait_until
from tests.merging.conftest import wait_for_job

pytestmark = [pytest.mark.services, pytest.mark.usefixtures("fake_provider")]


@pytest.fixture
def start_worker(start_celery_worker, fake_provider):
    from config.celery_app import app

    app.control.purge()  # leftovers of earlier runs on this Redis database are not ours
    # Redeliver a dead worker's task soon instead of after twenty minutes.
    return lambda: start_celery_worker(**fake_provider_env(fake_provider), CELERY_VISIBILITY_TIMEOUT="1")


def post_merge(live_asgi, auth, conversations, model):
    response = httpx.post(f"{live_asgi.url}/api/v1/merges/", headers=auth, timeout=10, json={
        "conversation_ids": [str(c.id) for c in conversations], "model": model})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def test_a_merge_runs_on_the_worker_and_streams_to_the_web_process(live_asgi, auth, two_conversations,
                                                                   start_worker, settings):
    assert settings.CELERY_BROKER_URL  # dispatched through Redis, not on a thread of this process
    start_worker()
    job_id = post_merge(live_asgi, auth, two_conversations, "openai/merge-tagged-40")
    with httpx.stream("GET", f"{live_asgi.url}/api/v1/merges/{job_id}/stream/", headers=auth, timeout=60) as live:
        events = parse_sse(live.read().decode())
    job = MergeJob.objects.get(pk=job_id)
    assert job.status == "succeeded" and job.attempts == 1, job.error
    assert events[-1]["type"] == "merge_complete" and events[-1]["conversation_id"] == str(job.result_conversation_id)
    content = [e for e in events if e["type"] == "content"]
    # Live slices from the worker through the Redis channel layer, not one replay of the finished text.
    assert len(content) > 2
    assert "".join(e["content"] for e in content) == job.raw_output
    assert [e["offset"] for e in content] == [sum(len(e["content"]) for e in content[:i]) for i in range(len(content))]


def test_a_worker_killed_mid_merge_is_replaced_and_the_result_is_written_once(live_asgi, auth, two_conversations,
                                                                              start_worker):
    first = start_worker()
    # About forty words a tenth of a second apart: several seconds of merging to interrupt.
    job_id = post_merge(live_asgi, auth, two_conversations, "openai/merge-tagged-100")
    wait_until(lambda: MergeJob.objects.filter(pk=job_id, status="running").exclude(raw_output="").exists(),
               timeout=30, what="the merge to be streaming on the first worker")
    first.kill()
    job = MergeJob.objects.get(pk=job_id)
    assert job.status == "running" and job.attempts == 1 and job.result_conversation_id is None

    with httpx.stream("GET", f"{live_asgi.url}/api/v1/merges/{job_id}/stream/", headers=auth, timeout=90) as live:
        time.sleep(1.5)  # past the visibility timeout, so the new worker takes the task back at once
        start_worker()
        events = parse_sse(live.read().decode())
    job = wait_for_job(job_id, timeout=60)
    assert job.status == "succeeded" and job.attempts == 2, job.error
    assert events[-1]["type"] == "merge_complete" and events[-1]["conversation_id"] == str(job.result_conversation_id)
    assert Conversation.objects.filter(title__startswith="Merge of").count() == 1
    assert MergeHistory.objects.filter(job=job, result_conversation__isnull=False).count() == 2
    messages = job.result_conversation.messages.count()
    assert messages == 3 and MergeHistory.objects.filter(job=job, result_message__isnull=False).count() == messages
