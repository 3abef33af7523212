"""Admin: merge jobs show their provenance; a merged conversation links the conversations it came from."""
import pytest

from merging.models import MergeJob

pytestmark = pytest.mark.usefixtures("fake_provider")


@pytest.mark.django_db(transaction=True)
def test_admin_shows_merge_provenance(client, user, make_user, two_conversations):
    from merging.services import merge_job_run

    first, second = two_conversations
    job = MergeJob.objects.create(owner=user, kind="conversations", model="openai/merge-tagged",
                                  source_ids=[str(first.id), str(second.id)], request_digest="d")
    merge_job_run(job_id=job.id)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    client.force_login(make_user("root", is_staff=True, is_superuser=True))

    page = client.get(f"/admin/merging/mergejob/{job.id}/change/").content.decode()
    for source in (first, second):
        assert f"/admin/chats/conversation/{source.id}/change/" in page
    answer = second.messages.get(role="assistant")
    assert f"/admin/chats/message/{answer.id}/change/" in page
    assert client.get("/admin/merging/mergejob/").status_code == 200

    merged = client.get(f"/admin/chats/conversation/{job.result_conversation_id}/change/").content.decode()
    assert f'href="/admin/chats/conversation/{first.id}/change/"' in merged
    assert f'href="/admin/chats/conversation/{second.id}/change/"' in merged
