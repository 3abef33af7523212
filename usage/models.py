"""What every model call cost (replies, compare answers, merge calls, gateway calls) and each user's budget."""
from django.conf import settings
from django.db import models


class UsageKind(models.TextChoices):
    REPLY = "reply"
    COMPARE = "compare"
    MERGE = "merge"
    GATEWAY = "gateway"


class UsageStatus(models.TextChoices):
    RUNNING = "running"  # started; `reserved` holds its prompt's estimated cost until it ends
    COMPLETE = "complete"
    CANCELLED = "cancelled"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class CostSource(models.TextChoices):
    PROVIDER = "provider"
    CATALOG = "catalog"
    ESTIMATED = "estimated"


class UsageRecord(models.Model):
    """One model call. Conversations, generations and merge jobs are named by id, not by foreign key: deleting a
    conversation must not take its spend out of the month's total (nor lower apps depend on higher ones)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="usage_records")
    kind = models.CharField(max_length=16, choices=UsageKind.choices)
    model = models.CharField(max_length=200)
    provider = models.CharField(max_length=64, blank=True, db_index=True)
    status = models.CharField(max_length=16, choices=UsageStatus.choices)
    error_code = models.CharField(max_length=64, blank=True)
    conversation_id = models.UUIDField(null=True, blank=True, db_index=True)
    generation_id = models.UUIDField(null=True, blank=True, unique=True)
    merge_job_id = models.UUIDField(null=True, blank=True, db_index=True)
    # Gateway calls: the token that made it, the virtual model that asked (parley/fusion), streamed or not.
    token = models.ForeignKey("accounts.ApiToken", on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="usage_records")
    via = models.CharField(max_length=64, blank=True, help_text="The virtual model that made this call, if any.")
    stream = models.BooleanField(default=False)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    reasoning_tokens = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    cost_source = models.CharField(max_length=16, choices=CostSource.choices, blank=True)
    reserved = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True,
                                   help_text="While running: the prompt's estimated cost, counted against the budget.")
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.model} {self.status}"


class UserBudget(models.Model):
    """A user's monthly budget (empty: PARLEY_DEFAULT_MONTHLY_BUDGET). Its row is also the lock that makes a
    burst of starts check the month's spend one at a time."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True,
                                related_name="usage_budget")
    monthly_budget = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True,
                                         help_text="USD per calendar month (UTC); empty uses the default.")

    def __str__(self) -> str:
        return f"budget of {self.user_id}"
