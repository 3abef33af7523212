"""Merges through infrastructure faults: Redis (broker, cache, channel layer) down when the job is made, and a Celery
worker killed whole mid-merge. Each ends with the job finished and exactly one result."""
import contextlib
import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from websockets.exceptions import ConnectionClosedOK
from websockets.sync.client import connect

from chats.models import Conversation
from merging.models import MergeHistory, MergeJob
from tests.chats.streaming_client import parse_sse
from tests.fixtures.fake_provider import fake_provider_env
from tests.fixtures.faults import forget_dead_connections, get_json, wait_until
from tests.merging.conftest import wait_for_job

pytestmark = [pytest.mark.services, pytest.mark.usefixtures("fake_provider")]


def merge_request(conversations, model: str) -> dict:
    return {"conversation_ids": [str(c.id) for c in conversations], "model": model}


def assert_one_result(job: MergeJob) -> None:
    assert job.status == "succeeded", (job.error_code, job.error)
    assert Conversation.objects.filter(title__startswith="Merge of").count() == 1
    assert MergeHistory.objects.filter(job=job, result_conversation__isnull=False).count() == 2
    assert job.result_conversation.messages.count() == 3


def assert_run_again_once(job_id: str, events: list[dict]) -> None:
    """The job took a second delivery, wrote one result, and its follower saw that result's end."""
    job = wait_for_job(job_id, timeout=60)
    assert job.attempts == 2
    assert_one_result(job)
    assert events[-1]["type"] == "merge_complete" and events[-1]["conversation_id"] == str(job.result_conversation_id)


def start_slow_merge(url: str, auth, conversations) -> str:
    """Ask for a merge of about forty words a tenth of a second apart; its id once its text is streaming."""
    response = httpx.post(f"{url}/api/v1/merges/", headers=auth, timeout=30,
                          json=merge_request(conversations, "openai/merge-tagged-100"))
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    wait_until(lambda: MergeJob.objects.filter(pk=job_id, status="running").exclude(raw_output="").exists(),
               timeout=30, what="the merge to be streaming")
    return job_id


def follow_to_the_end(url: str, auth, job_id: str) -> list[dict]:
    with httpx.stream("GET", f"{url}/api/v1/merges/{job_id}/stream/", headers=auth, timeout=90) as live:
        return parse_sse(live.read().decode())


def follow_on_websocket(url: str, auth, job_id: str) -> list[dict]:
    """Every frame of ws/merges/{id}/ until the server closes it."""
    events = []
    with connect(url.replace("http", "ws", 1) + f"/ws/merges/{job_id}/", additional_headers=auth,
                 open_timeout=10) as socket:
        with contextlib.suppress(ConnectionClosedOK):
            while True:
                events.append(json.loads(socket.recv(timeout=60)))
    return events


def test_a_merge_made_while_redis_is_down_is_queued_and_runs_once_redis_is_back(
        private_redis, start_web_process, start_celery_worker, fake_provider, auth, two_conversations):
    services = {"REDIS_URL": private_redis.url(), "PARLEY_MERGE_STALE_SECONDS": "2"}
    web = start_web_process(**services, **fake_provider_env(fake_provider))
    body = merge_request(two_conversations, "openai/merge-tagged-4")

    private_redis.stop()
    response = httpx.post(f"{web.url}/api/v1/merges/", headers=auth, json=body, timeout=30)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    # Within the de-dup window the same request returns that job: it is alive, waiting for the queue.
    again = httpx.post(f"{web.url}/api/v1/merges/", headers=auth, json=body, timeout=30)
    assert again.status_code == 202 and again.json()["id"] == job_id
    status, job = get_json(f"{web.url}/api/v1/merges/{job_id}/", headers=auth)
    assert status == 200 and job["status"] == "queued"

    private_redis.start()
    start_celery_worker(**services, **fake_provider_env(fake_provider))
    job = wait_for_job(job_id, timeout=60)
    assert job.attempts == 1
    assert_one_result(job)
    status, shown = get_json(f"{web.url}/api/v1/merges/{job_id}/", headers=auth)
    assert shown["status"] == "succeeded" and shown["result_conversation_id"] == str(job.result_conversation_id)


def test_a_merge_whose_worker_was_killed_is_run_again_within_the_stale_period(
        live_asgi, settings, start_celery_worker, fake_provider, auth, two_conversations):
    from config.celery_app import app

    app.control.purge()  # leftovers of earlier runs on this Redis database are not ours
    # The broker would redeliver the task only after its visibility timeout (twenty minutes by default); the
    # heartbeat is what notices the dead worker. The sweeper is the live server's (this process's settings).
    settings.PARLEY_MERGE_STALE_SECONDS = 2
    services = {"PARLEY_MERGE_STALE_SECONDS": "2"}
    first = start_celery_worker(**services, **fake_provider_env(fake_provider))
    job_id = start_slow_merge(live_asgi.url, auth, two_conversations)
    first.kill()
    assert MergeJob.objects.get(pk=job_id).result_conversation_id is None

    start_celery_worker(**services, **fake_provider_env(fake_provider))
    events = follow_to_the_end(live_asgi.url, auth, job_id)
    assert_run_again_once(job_id, events)


def test_a_merge_on_a_web_process_killed_with_sigkill_is_finished_by_another_web_process(
        start_web_process, fake_provider, auth, two_conversations):
    # No broker: merges run on threads of the web process that took the request, and die with it.
    embedded = {"REDIS_URL": "", "CELERY_BROKER_URL": "", "PARLEY_MERGE_STALE_SECONDS": "2",
                **fake_provider_env(fake_provider)}
    survivor = start_web_process(**embedded)
    doomed = start_web_process(**embedded)
    job_id = start_slow_merge(doomed.url, auth, two_conversations)
    doomed.kill()

    events = follow_to_the_end(survivor.url, auth, job_id)
    assert_run_again_once(job_id, events)


def test_followers_get_the_whole_merge_and_its_end_while_redis_is_down(
        private_redis, start_web_process, start_celery_worker, fake_provider, auth, two_conversations):
    services = {"REDIS_URL": private_redis.url(), **fake_provider_env(fake_provider)}
    web = start_web_process(**services)
    start_celery_worker(**services)
    job_id = start_slow_merge(web.url, auth, two_conversations)
    with httpx.stream("GET", f"{web.url}/api/v1/merges/{job_id}/stream/", headers=auth, timeout=90) as early:
        chunks = early.iter_text()
        received = next(chunks)  # subscribed through Redis, the current state received
        private_redis.stop()
        # Followers arriving now cannot subscribe at all: they follow the job row (SSE and WebSocket alike).
        with ThreadPoolExecutor(max_workers=1) as pool:
            on_websocket = pool.submit(follow_on_websocket, web.url, auth, job_id)
            late = follow_to_the_end(web.url, auth, job_id)
            websocket_events = on_websocket.result(timeout=60)
        early_events = parse_sse(received + "".join(chunks))
    job = wait_for_job(job_id, timeout=60)
    assert_one_result(job)
    for events in (early_events, late, websocket_events):
        content = [e for e in events if e["type"] == "content" and e["round"] == job.output_round]
        assert "".join(e["content"] for e in content) == job.raw_output
        assert [e["offset"] for e in content] == [sum(len(e["content"]) for e in content[:i])
                                                  for i in range(len(content))]
        assert events[-1]["type"] == "merge_complete"
        assert events[-1]["conversation_id"] == str(job.result_conversation_id)


def test_a_merge_whose_database_connections_were_killed_mid_run_finishes_once(
        live_asgi, start_celery_worker, fake_provider, auth, two_conversations, test_database):
    from config.celery_app import app

    app.control.purge()  # leftovers of earlier runs on this Redis database are not ours
    start_celery_worker(**fake_provider_env(fake_provider))
    job_id = start_slow_merge(live_asgi.url, auth, two_conversations)
    assert test_database.terminate_connections() >= 1
    forget_dead_connections()  # this test's own, killed too
    # The delivery that lost its connection is retried (a second delivery), on the same worker process.
    assert_run_again_once(job_id, follow_to_the_end(live_asgi.url, auth, job_id))
