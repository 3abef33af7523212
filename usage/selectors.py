"""Reads over usage rows: month-to-date spend, budgets, the usage endpoint's totals and groups."""
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Case, Count, DecimalField, F, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from usage.models import UsageRecord, UserBudget

GROUPS = ("day", "model", "provider")
_MONEY = DecimalField(max_digits=20, decimal_places=8)
# A call's reservation (gateway, merge and stateless calls have no generation) whose end was never recorded, because
# its process died, stops counting after this long; a reply's is settled by its generation's repair.
CALL_RESERVATION_SECONDS = 3600


def month_start(now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def default_budget() -> Decimal | None:
    value = getattr(settings, "PARLEY_DEFAULT_MONTHLY_BUDGET", None)
    return Decimal(str(value)) if value not in (None, "") else None


def budget_limit(*, user_id: int) -> Decimal | None:
    """The user's own monthly budget, else the default; None when neither is set (no limit)."""
    own = UserBudget.objects.filter(user_id=user_id).values_list("monthly_budget", flat=True).first()
    return own if own is not None else default_budget()


def _month_cost() -> Sum:
    """Finished calls at their cost, running ones at their reservation."""
    recent = timezone.now() - timedelta(seconds=CALL_RESERVATION_SECONDS)
    live = Q(generation_id__isnull=False) | Q(created_at__gte=recent)
    return Sum(Case(When(cost__isnull=False, then=F("cost")),
                    When(live, then=Coalesce("reserved", Value(Decimal(0)), output_field=_MONEY)),
                    default=Value(Decimal(0)), output_field=_MONEY))


def month_to_date_cost(*, user_id: int) -> Decimal:
    """This calendar month's (UTC) cost: every finished call, and running replies at their reserved estimate."""
    total = UsageRecord.objects.filter(owner_id=user_id, created_at__gte=month_start()).aggregate(
        total=_month_cost())["total"]
    return total or Decimal(0)


def month_to_date_costs(user_ids) -> dict[int, Decimal]:
    rows = (UsageRecord.objects.filter(owner_id__in=list(user_ids), created_at__gte=month_start())
            .values("owner_id").annotate(total=_month_cost()))
    return {row["owner_id"]: row["total"] or Decimal(0) for row in rows}


def _figures(queryset: QuerySet) -> dict:
    return queryset.aggregate(
        cost=Sum("cost"), prompt_tokens=Coalesce(Sum("prompt_tokens"), 0),
        completion_tokens=Coalesce(Sum("completion_tokens"), 0), replies=Count("id"))


def _shape(row: dict) -> dict:
    cost = row.get("cost")
    return {"cost": float(cost) if cost is not None else 0.0, "prompt_tokens": int(row["prompt_tokens"] or 0),
            "completion_tokens": int(row["completion_tokens"] or 0), "replies": int(row["replies"] or 0)}


def usage_summary(*, user_id: int, start: datetime | None, end: datetime | None, group_by: str) -> dict:
    """SPEC §10's `{"total", "rows": [{"key", ...}]}` for one user's calls in [start, end)."""
    queryset = UsageRecord.objects.filter(owner_id=user_id)
    if start is not None:
        queryset = queryset.filter(created_at__gte=start)
    if end is not None:
        queryset = queryset.filter(created_at__lt=end)
    key = {"day": TruncDate("created_at"), "model": F("model"), "provider": F("provider")}[group_by]
    grouped = (queryset.annotate(group_key=key).values("group_key")
               .annotate(cost=Sum("cost"), prompt_tokens=Sum("prompt_tokens"),
                         completion_tokens=Sum("completion_tokens"), replies=Count("id")))
    rows = [{"key": str(row["group_key"]), **_shape(row)} for row in grouped]
    if group_by == "day":
        rows.sort(key=lambda row: row["key"])
    else:
        rows.sort(key=lambda row: (-row["cost"], row["key"]))
    return {"total": _shape(_figures(queryset)), "rows": rows}


def conversation_totals(*, conversation_id) -> dict:
    """A conversation's own totals (its replies and compare answers), in the usage endpoint's fields."""
    return _shape(_figures(UsageRecord.objects.filter(conversation_id=conversation_id)))


def users_with_budgets(users) -> list[dict]:
    """Each user's SPEC §10 admin fields: their own budget (None: the default applies) and month-to-date cost."""
    users = list(users)
    budgets = dict(UserBudget.objects.filter(user_id__in=[u.pk for u in users])
                   .values_list("user_id", "monthly_budget"))
    spent = month_to_date_costs(u.pk for u in users)
    return [{"user": u, "monthly_budget": budgets.get(u.pk), "month_to_date_cost": spent.get(u.pk, Decimal(0))}
            for u in users]
