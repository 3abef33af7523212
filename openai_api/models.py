"""One row per model call made through the /v1 gateway: who, with which token, what it cost."""
from django.conf import settings
from django.db import models

FUSION_MODEL = "parley/fusion"


class GatewayCallStatus(models.TextChoices):
    COMPLETE = "complete"
    FAILED = "failed"
    CANCELLED = "cancelled"  # the client went away before the answer ended


class GatewayCall(models.Model):
    """A call to one model; a `parley/fusion` request records one row per model it asked and one for its judge."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="gateway_calls")
    token = models.ForeignKey("accounts.ApiToken", on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="gateway_calls")
    model = models.CharField(max_length=200)
    via = models.CharField(max_length=64, blank=True, help_text="The virtual model that made this call, if any.")
    stream = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=GatewayCallStatus.choices)
    error_code = models.CharField(max_length=64, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "created_at"])]

    def __str__(self) -> str:
        return f"{self.model} {self.status}"
