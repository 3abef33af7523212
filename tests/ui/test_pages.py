"""Sign-up, first-run state, settings pages and secrets in a real browser; screenshots of every page."""
import re

from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from providers.models import ProviderKey


def test_first_account_becomes_admin_and_sees_first_run_state(new_page, live, shot, settings):
    settings.PARLEY_PROVIDER_ENV = {}
    page = new_page()
    page.goto(f"{live}/")
    # A fresh server's first page is the sign-up that makes the admin (issue 14), not "Sign in".
    expect(page).to_have_url(re.compile(r"/signup/"))
    expect(page.locator(".sub")).to_contain_text("first account")
    shot(page, "signup")
    page.fill("#id_username", "grace")
    page.fill("#id_password1", "a-long-enough-passphrase")
    page.fill("#id_password2", "a-long-enough-passphrase")
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{live}/")
    grace = get_user_model().objects.get(username="grace")
    assert grace.is_superuser and grace.is_staff
    expect(page.locator(".sidebar-user")).to_contain_text("Administrator")
    first_run = page.locator("#first-run")
    expect(first_run).to_be_visible()
    expect(first_run.get_by_role("link")).to_have_attribute("href", "/settings/keys/")
    shot(page, "home-first-run")

    # Sign out, and a second account is an ordinary member.
    page.click("#logout")
    expect(page).to_have_url(re.compile(r"/login/"))
    page.goto(f"{live}/signup/")
    page.fill("#id_username", "linus")
    page.fill("#id_password1", "another-long-passphrase")
    page.fill("#id_password2", "another-long-passphrase")
    page.click("button[type=submit]")
    expect(page.locator(".sidebar-user")).to_contain_text("Member")
    assert not get_user_model().objects.get(username="linus").is_staff
    assert page.js_errors == []


def test_signup_rejects_mismatched_passwords(new_page, live):
    page = new_page()
    page.goto(f"{live}/signup/")
    page.fill("#id_username", "x")
    page.fill("#id_password1", "a-long-enough-passphrase")
    page.fill("#id_password2", "something-else-entirely")
    page.click("button[type=submit]")
    expect(page.locator(".errorlist")).to_contain_text("differ")
    assert not get_user_model().objects.filter(username="x").exists()


def test_keys_page_never_shows_the_raw_key(new_page, live, ui_user, shot):
    raw = "sk-test-UNIQUE-secret-value-9f8e7d6c5b4a"
    page = new_page(user=ui_user)
    page.goto(f"{live}/settings/keys/")
    page.select_option("#key-provider", "openai")
    page.fill("#key-value", raw)
    page.fill("#key-label", "work")
    page.click("#key-form button[type=submit]")
    row = page.locator("#key-table tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("openai")
    expect(row).to_contain_text(raw[-4:])
    assert ProviderKey.objects.get(owner=ui_user).provider == "openai"
    html = page.content()
    assert raw not in html
    assert page.input_value("#key-value") == ""
    shot(page, "keys")

    page.once("dialog", lambda d: d.accept())
    row.locator("[data-delete-key]").click()
    expect(page.locator("#key-empty")).to_be_visible()
    assert not ProviderKey.objects.filter(owner=ui_user).exists()


def test_api_token_is_shown_once(new_page, live, ui_user, shot):
    page = new_page(user=ui_user)
    page.goto(f"{live}/settings/tokens/")
    expect(page.locator(".empty")).to_be_visible()
    page.fill("#id_name", "laptop")
    page.click("form.row button[type=submit]")
    token = page.locator("#new-token-value").inner_text()
    assert token.startswith("pk_")
    expect(page.locator("#token-table")).to_contain_text("laptop")
    shot(page, "tokens-new")
    page.goto(f"{live}/settings/tokens/")
    assert token not in page.content()
    expect(page.locator("#token-table")).to_contain_text(token[-4:])
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator(".empty")).to_be_visible()
    assert not ui_user.api_tokens.exists()


def test_presets_page_creates_and_applies(new_page, live, ui_user, shot):
    page = new_page(user=ui_user)
    page.goto(f"{live}/presets/")
    expect(page.locator(".empty")).to_be_visible()
    shot(page, "presets-empty")
    page.fill("#preset-name", "Terse")
    page.fill("#preset-model", "openai/story-3-10")
    page.fill("#preset-system", "Answer in one line.")
    page.fill("#preset-temperature", "0.2")
    page.click("#preset-submit")
    expect(page.locator("#preset-table")).to_contain_text("Terse")
    shot(page, "presets")
    page.click("[data-use-preset]")
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}/$"))
    expect(page.locator("#model-chip-label")).to_have_text("openai/story-3-10")
    conversation = ui_user.conversations.get()
    assert conversation.system_prompt == "Answer in one line."
    assert conversation.params == {"temperature": 0.2}


def test_every_page_at_desktop_and_phone_width(new_page, live, ui_user, shot):
    from chats.models import Conversation, Message

    conv = Conversation.objects.create(owner=ui_user, title="Trip planning", default_model="openai/story-3-10")
    Message.objects.create(conversation=conv, role="user", content="Plan a weekend in Lisbon")
    Message.objects.create(
        conversation=conv, role="assistant", model="openai/story-3-10", content=SAMPLE_ANSWER,
        usage={"prompt_tokens": 12, "completion_tokens": 80}, latency_ms=1830, ttft_ms=240,
    )
    Conversation.objects.create(owner=ui_user, title="Rust lifetimes")
    for scheme in ("light", "dark"):
        for width, label in ((1280, "desktop"), (390, "phone")):
            page = new_page(user=ui_user, width=width, height=860 if width > 500 else 780, color_scheme=scheme)
            for name, path in [
                ("home", "/"), ("conversation", f"/c/{conv.id}/"), ("compare", "/compare/"), ("merge", "/merge/"),
                ("keys", "/settings/keys/"), ("tokens", "/settings/tokens/"), ("presets", "/presets/"),
                ("not-found", "/nowhere/"),
            ]:
                page.goto(f"{live}{path}")
                page.wait_for_load_state()
                page.wait_for_timeout(120)
                shot(page, f"{name}-{label}-{scheme}")
            if width < 500:
                page.goto(f"{live}/")
                page.click("[data-open-nav]")
                expect(page.locator(".sidebar")).to_be_in_viewport()
                shot(page, f"sidebar-{label}-{scheme}")
            assert page.js_errors == []
    page.goto(f"{live}/?q=lisbon")
    expect(page.locator(".conv-item")).to_have_count(1)
    expect(page.locator(".conv-item")).to_contain_text("Trip planning")


SAMPLE_ANSWER = """Here is a relaxed **two-day** plan:

1. *Saturday*: Alfama, the castle, dinner in Bairro Alto.
2. *Sunday*: Belém — the tower and the pastries.

```python
days = ["Saturday", "Sunday"]
for day in days:
    print(f"Enjoy {day}!")
```

> Tip: buy a Viva Viagem card. See [the transit site](https://www.carris.pt).
"""
