"""GET /api/v1/usage/ (grouping, ranges, ownership) and the admin's users API with budgets."""
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.conftest import token_client
from tests.usage.conftest import spent
from usage.models import UsageRecord, UserBudget

pytestmark = pytest.mark.django_db


def at(record, when: datetime):
    UsageRecord.objects.filter(pk=record.pk).update(created_at=when)


@pytest.fixture
def history(user, other_user):
    today = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    at(spent(user, "0.50", model="openai/gpt-4o", prompt_tokens=10, completion_tokens=20), today)
    at(spent(user, "0.25", model="anthropic/claude", prompt_tokens=5, completion_tokens=5, kind="gateway"), today)
    at(spent(user, "1.00", model="openai/gpt-4o", prompt_tokens=1, completion_tokens=1, kind="merge"),
       today - timedelta(days=1))
    at(spent(other_user, "9.00", model="openai/gpt-4o"), today)
    return today


def test_usage_totals_and_groups_by_model_provider_and_day(api, history):
    start = (history - timedelta(days=1)).date().isoformat()
    by_model = api.get("/api/v1/usage/", {"from": start, "group_by": "model"}).json()
    assert by_model["total"] == {"cost": 1.75, "prompt_tokens": 16, "completion_tokens": 26, "replies": 3}
    assert by_model["rows"] == [
        {"key": "openai/gpt-4o", "cost": 1.5, "prompt_tokens": 11, "completion_tokens": 21, "replies": 2},
        {"key": "anthropic/claude", "cost": 0.25, "prompt_tokens": 5, "completion_tokens": 5, "replies": 1}]
    by_provider = api.get("/api/v1/usage/", {"from": start, "group_by": "provider"}).json()
    assert [(row["key"], row["cost"]) for row in by_provider["rows"]] == [("openai", 1.5), ("anthropic", 0.25)]
    by_day = api.get("/api/v1/usage/", {"from": start, "group_by": "day"}).json()
    assert [(row["key"], row["cost"]) for row in by_day["rows"]] == [
        ((history - timedelta(days=1)).date().isoformat(), 1.0), (history.date().isoformat(), 0.75)]
    only_today = api.get("/api/v1/usage/", {"from": history.date().isoformat(),
                                            "to": history.date().isoformat()}).json()
    assert only_today["total"]["cost"] == 0.75


def test_usage_is_the_callers_own_unless_an_admin_asks(api, user, other_user, history, make_user):
    start = (history - timedelta(days=1)).date().isoformat()
    assert api.get("/api/v1/usage/", {"from": start}).json()["total"]["cost"] == 1.75
    refused = api.get("/api/v1/usage/", {"user": other_user.pk})
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    admin = token_client(make_user("root", is_staff=True))
    assert admin.get("/api/v1/usage/", {"user": other_user.pk, "from": start}).json()["total"]["cost"] == 9.0
    assert admin.get("/api/v1/usage/", {"user": 99999}).status_code == 404


@pytest.mark.parametrize("query,code", [
    ({"group_by": "week"}, "invalid_choice"), ({"from": "yesterday"}, "invalid"),
    ({"from": "2026-05-02", "to": "2026-05-01"}, "invalid_range"), ({"user": "x"}, "invalid"),
])
def test_bad_usage_queries_are_clear_400s(api, query, code):
    response = api.get("/api/v1/usage/", query)
    assert response.status_code == 400 and response.json()["code"] == code


def test_the_default_range_is_this_month(api, user):
    at(spent(user, "3"), datetime(2020, 1, 5, tzinfo=UTC))
    spent(user, "0.5")
    assert api.get("/api/v1/usage/").json()["total"]["cost"] == 0.5


def test_admin_users_list_and_budget_edit(make_user, user, history, settings):
    settings.PARLEY_DEFAULT_MONTHLY_BUDGET = Decimal("5")
    admin_user = make_user("root", is_staff=True)
    admin = token_client(admin_user)
    listed = admin.get("/api/v1/admin/users/").json()["results"]
    alice = next(row for row in listed if row["username"] == "alice")
    this_month = 1.75 if (history - timedelta(days=1)).month == history.month else 0.75
    assert alice == {"id": user.pk, "username": "alice", "is_active": True, "is_staff": False,
                     "monthly_budget": None, "month_to_date_cost": this_month}
    changed = admin.patch(f"/api/v1/admin/users/{user.pk}/", {"monthly_budget": "12.5"}, format="json")
    assert changed.status_code == 200 and changed.json()["monthly_budget"] == 12.5
    assert UserBudget.objects.get(user=user).monthly_budget == Decimal("12.5")
    cleared = admin.patch(f"/api/v1/admin/users/{user.pk}/", {"monthly_budget": None}, format="json")
    assert cleared.json()["monthly_budget"] is None


@pytest.mark.parametrize("body,code", [
    ({"monthly_budget": "-1"}, "min_value"), ({"monthly_budget": "lots"}, "invalid"),
    ({"username": "x"}, "unknown_field"),
])
def test_admin_budget_edits_are_validated(make_user, user, body, code):
    admin = token_client(make_user("root", is_staff=True))
    response = admin.patch(f"/api/v1/admin/users/{user.pk}/", body, format="json")
    assert response.status_code == 400 and response.json()["code"] == code


def test_the_admin_users_api_is_for_admins_only(api, user, make_user):
    assert api.get("/api/v1/admin/users/").status_code == 403
    assert api.patch(f"/api/v1/admin/users/{user.pk}/", {"monthly_budget": "100"}, format="json").status_code == 403
    admin = token_client(make_user("root", is_staff=True))
    assert admin.get("/api/v1/admin/users/424242/").status_code == 404
    assert admin.patch("/api/v1/admin/users/nope/", {}, format="json").status_code == 404


def test_the_django_admin_edits_budgets(client, make_user, user):
    admin_user = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    assert client.get("/admin/usage/usagerecord/").status_code == 200
    response = client.post("/admin/usage/userbudget/add/", {"user": user.pk, "monthly_budget": "3.5"})
    assert response.status_code == 302
    assert UserBudget.objects.get(user=user).monthly_budget == Decimal("3.5")


def test_the_budget_is_edited_on_the_users_admin_page(client, make_user, user):
    admin_user = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    page = client.get(f"/admin/auth/user/{user.pk}/change/")
    assert page.status_code == 200 and b"Monthly budget" in page.content
    assert b'name="usage_budget-0-monthly_budget"' in page.content
