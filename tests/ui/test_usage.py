"""The usage page and the admin's overview in a real browser: charts drawn, light and dark, desktop and phone."""
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.ui.conftest import SCREENSHOTS
from usage.models import UsageRecord
from usage.services import user_budget_set


def record(user, model: str, cost: str, days_ago: int = 0, **fields):
    row = UsageRecord.objects.create(owner=user, kind=fields.pop("kind", "reply"), model=model,
                                     provider=model.split("/")[0], status="complete", cost=Decimal(cost),
                                     cost_source="catalog", prompt_tokens=120, completion_tokens=340, **fields)
    when = max(timezone.now() - timedelta(days=days_ago), timezone.now().replace(day=1, hour=1))
    UsageRecord.objects.filter(pk=row.pk).update(created_at=when)


@pytest.fixture
def spending(ui_user):
    user_budget_set(user_id=ui_user.pk, monthly_budget=Decimal("5"))
    record(ui_user, "openai/gpt-4o", "1.25")
    record(ui_user, "anthropic/claude-sonnet-4-5", "2.10", days_ago=1)
    record(ui_user, "gemini/gemini-2.5-flash", "0.04", kind="gateway")
    record(ui_user, "openai/gpt-4o-mini", "0.31", kind="merge", days_ago=1)
    return ui_user


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1280, 390])
def test_usage_page_draws_spend_per_day_model_provider_and_the_budget(new_page, live, shot, spending, scheme,
                                                                      width):
    page = new_page(user=spending, width=width, height=1100 if width > 500 else 1400, color_scheme=scheme)
    page.goto(f"{live}/usage/")
    expect(page.locator("#usage-total-cost")).to_have_text("$3.70")
    expect(page.locator("#usage-budget")).to_contain_text("$3.70 of $5.00 (74%)")
    expect(page.locator("#usage-models text.usage-label")).to_have_text(
        ["anthropic/claude-sonnet-4-5", "openai/gpt-4o", "openai/gpt-4o-mini", "gemini/gemini-2.5-flash"])
    expect(page.locator("#usage-models text.usage-value")).to_have_text(["$2.10", "$1.25", "$0.31", "$0.04"])
    expect(page.locator("#usage-providers text.usage-label")).to_have_text(["anthropic", "openai", "gemini"])
    # One bar per day of the month; the days with spend have height.
    heights = page.locator("#usage-days rect.usage-bar").evaluate_all(
        "bars => bars.map(b => +b.getAttribute('height'))")
    assert len(heights) >= 28 and sum(1 for h in heights if h > 0) in (1, 2)
    # The bars take the theme's accent, which differs between light and dark.
    fill = page.locator("#usage-models rect.usage-bar").first.evaluate("el => getComputedStyle(el).fill")
    assert fill == ("rgb(79, 70, 229)" if scheme == "light" else "rgb(129, 140, 248)")
    label = page.locator("#usage-models text.usage-label").first.evaluate("el => getComputedStyle(el).fill")
    assert label == ("rgb(82, 82, 91)" if scheme == "light" else "rgb(180, 180, 189)")
    assert page.js_errors == []
    page.screenshot(path=str(SCREENSHOTS / f"usage-{scheme}-{width}.png"), full_page=True)


def test_a_month_without_calls_says_so(new_page, live, ui_user):
    page = new_page(user=ui_user)
    page.goto(f"{live}/usage/?month=2020-01")
    expect(page.locator("#usage-total-cost")).to_have_text("$0")
    expect(page.locator("#usage-models")).to_contain_text("No calls this month.")
    expect(page.locator("#usage-budget")).to_have_count(0)


def test_admin_overview_lists_every_users_month(new_page, live, shot, spending, django_user_model, settings):
    settings.PARLEY_DEFAULT_MONTHLY_BUDGET = Decimal("1")
    admin = django_user_model.objects.create_user(username="root", password="x" * 20, is_staff=True)
    other = django_user_model.objects.create_user(username="bob", password="x" * 20)
    record(other, "openai/gpt-4o", "1.50")
    for scheme in ("light", "dark"):
        page = new_page(user=admin, color_scheme=scheme)
        page.goto(f"{live}/usage/users/")
        rows = page.locator("#usage-users tbody tr")
        expect(rows.nth(0)).to_contain_text("ada")
        expect(rows.nth(0)).to_contain_text("$3.70")
        expect(rows.nth(0)).to_contain_text("74%")
        expect(rows.nth(1)).to_contain_text("bob")
        expect(rows.nth(1)).to_contain_text("default")
        expect(rows.nth(1)).to_contain_text("100%")
        shot(page, f"usage-admin-{scheme}")
    phone = new_page(user=admin, width=390, height=780, color_scheme="dark")
    phone.goto(f"{live}/usage/users/")
    expect(phone.locator("#usage-users tbody tr")).to_have_count(3)
    shot(phone, "usage-admin-phone-dark")
    # Not for everyone.
    page = new_page(user=spending)
    assert page.goto(f"{live}/usage/users/").status == 403
    expect(page.locator("#usage-users")).to_have_count(0)


def test_compare_shows_the_estimated_cost_before_running(new_page, live, ui_user, fake_provider, shot):
    from providers.models import CatalogFetch
    from tests.ui.test_compare_merge import pick_models
    from tests.usage.conftest import price

    price("openai/story-3-0", "0.00001", "0.00002")
    # A fresh list: the model picker does not refresh it (which would replace the priced entry).
    CatalogFetch.objects.create(provider="openai", fetched_at=timezone.now(), attempted_at=timezone.now(), ok=True)
    page = new_page(user=ui_user, width=1280)
    page.goto(f"{live}/compare/")
    pick_models(page, "#add-models", ["openai/story-3-0", "openai/unpriced-3"])
    page.fill("#compare-prompt", "x" * 400)
    # 100 + 3 prompt tokens: $0.00103; with 4096 completion tokens: $0.08295.
    expect(page.locator("#compare-estimate")).to_have_text(
        re.compile(r"^Estimated \$0\.001 – \$0\.08(29|3) \(\+1 unpriced\)$"))
    assert [r for r in fake_provider.requests() if r.get("json")] == []  # no model was asked anything
    shot(page, "compare-estimate")
    user_budget_set(user_id=ui_user.pk, monthly_budget=Decimal("0.01"))
    record(ui_user, "openai/story-3-0", "0.02")
    page.fill("#compare-prompt", "y" * 400)
    expect(page.locator("#compare-estimate")).to_have_text("Monthly budget used up")
    assert page.js_errors == []


def test_conversation_header_shows_its_totals_and_follows_new_replies(new_page, live, ui_user, fake_provider,
                                                                      shot):
    from chats.services import conversation_create
    from tests.usage.conftest import price

    price("openai/story-4-0", "0.001", "0.001")
    conversation = conversation_create(owner=ui_user, default_model="openai/story-4-0")
    page = new_page(user=ui_user, width=1280)
    page.goto(f"{live}/c/{conversation.pk}/")
    expect(page.locator("#conv-totals")).to_have_text("")
    page.fill("#composer-input", "one two")
    page.press("#composer-input", "Enter")
    # 2 prompt tokens (the fake counts words) and 4 completion tokens at $0.001 each.
    expect(page.locator("#conv-totals")).to_have_text("$0.006 · 6 tokens", timeout=15_000)
    page.reload()
    expect(page.locator("#conv-totals")).to_have_text("$0.006 · 6 tokens")
    shot(page, "conversation-totals")
    assert page.js_errors == []
