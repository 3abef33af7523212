"""Gateway calls are usage rows (usage.UsageRecord, kind "gateway"): this proxy keeps their name and admin."""
from django.db import models

from usage.models import UsageKind, UsageRecord

FUSION_MODEL = "parley/fusion"


class GatewayCallStatus(models.TextChoices):
    COMPLETE = "complete"
    FAILED = "failed"
    CANCELLED = "cancelled"  # the client went away before the answer ended


class GatewayCallManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(kind=UsageKind.GATEWAY)


class GatewayCall(UsageRecord):
    """A call to one model; a `parley/fusion` request records one row per model it asked and one for its judge."""

    objects = GatewayCallManager()

    class Meta:
        proxy = True
        ordering = ["-created_at", "-id"]

    def save(self, *args, **kwargs):
        self.kind = UsageKind.GATEWAY
        if not self.provider:
            self.provider = self.model.partition("/")[0]
        super().save(*args, **kwargs)
