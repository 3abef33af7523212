"""Reads of merge jobs, always scoped to their owner."""
import re

from django.http import Http404

from merging.models import MergeJob

UUID = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")


def valid_uuids(ids: list[str]) -> list[str]:
    """The ids that are UUIDs; a malformed id then simply matches nothing (a 404, not a 500)."""
    return [i for i in ids if UUID.match(i)]


def merge_job_list(*, owner):
    return MergeJob.objects.filter(owner=owner).order_by("-created_at")


def merge_job_get(*, owner, job_id) -> MergeJob:
    """The caller's job; 404 for a missing, malformed or foreign id."""
    job = MergeJob.objects.filter(owner=owner, id__in=valid_uuids([str(job_id)])).first()
    if job is None:
        raise Http404("Merge job not found.")
    return job
