"""Merge jobs (conversations into one, or sibling answers into one) and their provenance."""
import uuid

from django.conf import settings
from django.db import models


class MergeStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class MergeKind(models.TextChoices):
    CONVERSATIONS = "conversations"
    MESSAGES = "messages"


class MergeJob(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="merge_jobs")
    kind = models.CharField(max_length=16, choices=MergeKind.choices)
    model = models.CharField(max_length=200)
    instructions = models.TextField(blank=True)
    source_ids = models.JSONField(default=list)
    # Same owner + same request within a short window = one job (double submits).
    request_digest = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=16, choices=MergeStatus.choices, default=MergeStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    # What the job is doing now ("condensing conversation A, part 2 of 3"), shown with progress.
    stage = models.CharField(max_length=200, blank=True)
    # Counts the merge model's answers; `raw_output` holds the current one, so streams can tell a retry apart.
    output_round = models.PositiveSmallIntegerField(default=0)
    result_conversation = models.ForeignKey(
        "chats.Conversation", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    result_message = models.ForeignKey(
        "chats.Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    error = models.TextField(blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    raw_output = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The outbox: when the task was last handed to the queue (None: not yet, e.g. the broker was down), and the last
    # sign of life of the delivery running it. The sweeper dispatches a job again when either is missing or stale.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "request_digest", "-created_at"]),
            models.Index(fields=["status", "heartbeat_at"], name="merging_job_sweep_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} merge {self.id} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in (MergeStatus.SUCCEEDED, MergeStatus.FAILED)


class MergeHistory(models.Model):
    """Provenance: a merged conversation or message, and one conversation or message it came from."""

    job = models.ForeignKey(MergeJob, on_delete=models.CASCADE, null=True, blank=True, related_name="history")
    result_conversation = models.ForeignKey(
        "chats.Conversation", on_delete=models.CASCADE, null=True, blank=True, related_name="provenance"
    )
    result_message = models.ForeignKey(
        "chats.Message", on_delete=models.CASCADE, null=True, blank=True, related_name="provenance"
    )
    source_conversation = models.ForeignKey(
        "chats.Conversation", on_delete=models.SET_NULL, null=True, blank=True, related_name="merged_into_history"
    )
    source_message = models.ForeignKey(
        "chats.Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="merged_into_history"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "merge history"
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"merge provenance {self.pk}"
