"""The usage page (spend per day, model and provider; the month against the budget) and the admin's overview,
drawn as server-side SVG whose colours come from the page's CSS, so they follow the light and dark themes."""
import calendar
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from usage import selectors

CHART_WIDTH, CHART_HEIGHT, AXIS = 640, 200, 44


def money(value) -> str:
    value = float(value or 0)
    if value == 0:
        return "$0"
    if value >= 0.995:
        return f"${value:,.2f}"
    return f"${value:.4f}".rstrip("0").rstrip(".") if value >= 0.0001 else "<$0.0001"


def _month(request) -> datetime:
    raw = request.GET.get("month", "")
    try:
        year, month = (int(part) for part in raw.split("-"))
        return datetime(year, month, 1, tzinfo=UTC)
    except (ValueError, TypeError):
        return selectors.month_start()


def day_chart(rows: list[dict], start: datetime) -> dict:
    """Vertical bars, one per day of the month; an empty day is a bar of height 0 (still labelled)."""
    days = calendar.monthrange(start.year, start.month)[1]
    cost = {row["key"]: row["cost"] for row in rows}
    peak = max(cost.values(), default=0) or 1
    plot_height = CHART_HEIGHT - 24
    slot = (CHART_WIDTH - AXIS) / days
    bars = []
    for index in range(days):
        day = (start + timedelta(days=index)).date()
        value = cost.get(day.isoformat(), 0)
        height = round(plot_height * value / peak, 1)
        bars.append({"x": round(AXIS + index * slot + slot * 0.15, 1), "y": round(plot_height - height, 1),
                     "width": round(slot * 0.7, 1), "height": height, "label": day.day,
                     "show_label": index == 0 or (index + 1) % 5 == 0, "label_x": round(AXIS + (index + .5) * slot, 1),
                     "title": f"{day.isoformat()}: {money(value)}"})
    return {"width": CHART_WIDTH, "height": CHART_HEIGHT, "bars": bars, "peak": money(peak if cost else 0),
            "base_y": plot_height, "label_y": CHART_HEIGHT - 6, "axis": AXIS}


def ranking_chart(rows: list[dict], *, limit: int = 8) -> dict:
    """Horizontal bars, the most expensive first; the rest summed as "other"."""
    shown = rows[:limit]
    if len(rows) > limit:
        rest = rows[limit:]
        shown.append({"key": f"{len(rest)} other", "cost": sum(row["cost"] for row in rest),
                      "replies": sum(row["replies"] for row in rest)})
    peak = max((row["cost"] for row in shown), default=0) or 1
    width, label_width, row_height, value_width = 470, 205, 26, 64
    track = width - label_width - value_width
    bars = [{"y": index * row_height + 4, "text_y": index * row_height + 17, "label": row["key"],
             "width": round(max(track * row["cost"] / peak, 1 if row["cost"] else 0), 1), "value": money(row["cost"]),
             "value_x": label_width + track + 8, "title": f"{row['key']}: {money(row['cost'])}, {row['replies']} calls"}
            for index, row in enumerate(shown)]
    return {"width": width, "height": max(len(bars), 1) * row_height, "bars": bars, "x": label_width,
            "track": track}


def budget_gauge(spent: Decimal, limit: Decimal | None) -> dict | None:
    if limit is None:
        return None
    share = float(spent / limit) if limit > 0 else 1.0
    return {"spent": money(spent), "limit": money(limit), "percent": round(min(share, 1) * 100),
            "width": round(CHART_WIDTH * min(share, 1), 1), "full": CHART_WIDTH,
            "level": "over" if share >= 1 else "warn" if share >= 0.8 else "ok",
            "left": money(max(limit - spent, Decimal(0)))}


@login_required
def usage_page(request):
    start = _month(request)
    end = (start + timedelta(days=32)).replace(day=1)
    summary = {group: selectors.usage_summary(user_id=request.user.pk, start=start, end=end, group_by=group)
               for group in selectors.GROUPS}
    this_month = start == selectors.month_start()
    spent = selectors.month_to_date_cost(user_id=request.user.pk) if this_month else None
    previous = (start - timedelta(days=1)).replace(day=1)
    return render(request, "web/usage.html", {
        "section": "usage", "month": start, "total": summary["day"]["total"],
        "total_cost": money(summary["day"]["total"]["cost"]),
        "days": day_chart(summary["day"]["rows"], start), "models": ranking_chart(summary["model"]["rows"]),
        "providers": ranking_chart(summary["provider"]["rows"]),
        "budget": budget_gauge(spent, selectors.budget_limit(user_id=request.user.pk)) if this_month else None,
        "previous": previous.strftime("%Y-%m"), "next": end.strftime("%Y-%m") if not this_month else "",
    })


@login_required
def usage_admin_page(request):
    if not request.user.is_staff:
        raise PermissionDenied("Only admins see every user's usage.")
    users = list(get_user_model().objects.order_by("username"))
    default = selectors.default_budget()
    rows = []
    for row in selectors.users_with_budgets(users):
        limit = row["monthly_budget"] if row["monthly_budget"] is not None else default
        rows.append({"user": row["user"], "own_budget": row["monthly_budget"] is not None,
                     "limit": money(limit) if limit is not None else "none", "spent": money(row["month_to_date_cost"]),
                     "gauge": budget_gauge(row["month_to_date_cost"], limit), "amount": row["month_to_date_cost"]})
    rows.sort(key=lambda row: (-row["amount"], row["user"].username))
    return render(request, "web/usage_admin.html", {"section": "usage-admin", "rows": rows,
                                                     "default": money(default) if default is not None else "none"})
