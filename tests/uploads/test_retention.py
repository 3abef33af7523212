"""Retention: the beat task deletes expired unattached uploads, uploads whose message or conversation is gone and
stray files, and nothing else; deleting or clearing a conversation removes its files at once."""
import os
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from chats.services import conversation_create, conversation_delete, message_create, messages_clear
from tests.uploads.conftest import stored_files
from uploads.models import Upload
from uploads.services import upload_create

pytestmark = pytest.mark.django_db


def make(user, text: str = "some notes") -> Upload:
    return upload_create(owner=user, name=f"{text}.txt", data=text.encode())


def attached(user, text: str):
    upload = make(user, text)
    conversation = conversation_create(owner=user)
    message = message_create(conversation=conversation, content="see file", attachments=[upload])
    return upload, message, conversation


def files_of(root) -> set[str]:
    return {p.read_text() for p in stored_files(root)}


def test_the_beat_task_runs_the_sweep(settings):
    from uploads.tasks import expire_uploads

    entry = settings.CELERY_BEAT_SCHEDULE["expire-uploads"]
    assert entry["task"] == expire_uploads.name == "uploads.tasks.expire_uploads"


def test_sweep_deletes_what_it_should_and_nothing_else(user, upload_root, settings):
    from uploads.tasks import expire_uploads

    settings.PARLEY_UPLOAD_UNATTACHED_HOURS = 24
    fresh = make(user, "fresh")
    expired = make(user, "expired")
    Upload.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    kept, _, _ = attached(user, "attached")
    _, gone_message, _ = attached(user, "message gone")
    gone_message.delete()  # e.g. a tree branch deleted: the row stays (SET_NULL) until the sweep
    stray = upload_root / "2020" / "stray"
    stray.parent.mkdir()
    stray.write_text("left by a crash")
    old = time.time() - 7200
    os.utime(stray, (old, old))
    (upload_root / "just-being-written").write_text("a file whose row is not written yet")

    counts = expire_uploads.apply().get()

    assert counts == {"expired": 1, "orphaned": 1, "stray_files": 1}
    assert set(Upload.objects.values_list("pk", flat=True)) == {fresh.pk, kept.pk}
    assert files_of(upload_root) == {"fresh", "attached", "a file whose row is not written yet"}


def test_attached_uploads_do_not_expire(user):
    upload, _, _ = attached(user, "kept")
    upload.refresh_from_db()
    assert upload.expires_at is None and upload.attached_at is not None


def test_deleting_a_conversation_deletes_its_files(user, upload_root, django_capture_on_commit_callbacks):
    _, _, conversation = attached(user, "in the conversation")
    make(user, "elsewhere")
    with django_capture_on_commit_callbacks(execute=True):
        conversation_delete(conversation=conversation)
    assert files_of(upload_root) == {"elsewhere"}
    assert Upload.objects.count() == 1


def test_clearing_a_conversation_deletes_its_files(user, upload_root, django_capture_on_commit_callbacks):
    _, _, conversation = attached(user, "cleared")
    with django_capture_on_commit_callbacks(execute=True):
        messages_clear(conversation=conversation)
    assert files_of(upload_root) == set() and not Upload.objects.exists()


def test_deleting_a_conversation_over_the_api(api, user, upload_root, django_capture_on_commit_callbacks):
    _, _, conversation = attached(user, "api")
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/v1/conversations/{conversation.pk}/").status_code == 204
    assert files_of(upload_root) == set()


def test_an_expired_upload_cannot_be_attached(api, user):
    upload = make(user, "late")
    Upload.objects.filter(pk=upload.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    conversation = conversation_create(owner=user)
    response = api.post(f"/api/v1/conversations/{conversation.pk}/messages/",
                        {"content": "hi", "attachments": [str(upload.pk)]}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_attachment"


def test_a_row_that_cannot_be_written_leaves_no_file(user, upload_root, monkeypatch):
    def refuse(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Upload.objects, "create", refuse)
    with pytest.raises(RuntimeError):
        make(user, "doomed")
    assert stored_files(upload_root) == []


@pytest.mark.django_db(transaction=True)
def test_without_a_broker_new_uploads_run_the_sweep_now_and_then(user, upload_root, settings):
    from django.core.cache import cache

    settings.CELERY_BROKER_URL = ""  # embedded mode: no beat runs
    expired = make(user, "expired")
    Upload.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    cache.delete("uploads:sweep-ran")
    make(user, "fresh")
    deadline = time.monotonic() + 10
    while Upload.objects.filter(pk=expired.pk).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Upload.objects.filter(pk=expired.pk).exists()
    assert files_of(upload_root) == {"fresh"}
