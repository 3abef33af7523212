"""The merge sweeper: which unfinished jobs it queues again, and that a second sweep (another process) does not."""
from datetime import timedelta

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError

from merging import services
from merging.models import MergeJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch, settings):
    """The job ids handed to the task queue, in order."""
    settings.PARLEY_MERGE_STALE_SECONDS = 60
    sent: list[str] = []
    monkeypatch.setattr(services, "send_task", lambda task, job_id: sent.append(job_id))
    return sent


def make_job(user, *, ago: float = 0, **fields) -> MergeJob:
    job = MergeJob.objects.create(owner=user, kind="conversations", model="openai/m", source_ids=[], request_digest="d",
                                  **fields)
    MergeJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(seconds=ago))
    return job


def seconds_ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def test_jobs_without_a_live_delivery_are_queued_again_once(user, queued):
    never_sent = make_job(user, ago=10)
    dead_worker = make_job(user, ago=300, status="running", started_at=seconds_ago(300), heartbeat_at=seconds_ago(61))
    lost_by_broker = make_job(user, ago=900, dispatched_at=seconds_ago(601))
    make_job(user, ago=1)  # its own request is about to queue it
    make_job(user, ago=300, status="running", started_at=seconds_ago(300), heartbeat_at=seconds_ago(20))
    make_job(user, ago=300, dispatched_at=seconds_ago(300))  # waiting in a long queue
    make_job(user, ago=900, status="succeeded", heartbeat_at=seconds_ago(900))
    make_job(user, ago=900, status="failed")

    assert services.merge_jobs_sweep() == 3
    assert sorted(queued) == sorted(str(j.id) for j in (never_sent, dead_worker, lost_by_broker))
    # Another web process (or beat) sweeping right after leaves them to the delivery just queued.
    assert services.merge_jobs_sweep() == 0 and len(queued) == 3


def test_a_job_the_broker_refuses_stays_queued_for_the_next_sweep(user, monkeypatch, settings):
    settings.PARLEY_MERGE_STALE_SECONDS = 60

    def refuse(task, job_id):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(services, "send_task", refuse)
    job = make_job(user, ago=10)
    assert services.merge_jobs_sweep() == 1
    job.refresh_from_db()
    assert job.status == "queued" and job.dispatched_at is None and job.stage == "Waiting for the task queue"
    assert services.merge_jobs_sweep() == 1  # tried again on every sweep until the broker takes it
