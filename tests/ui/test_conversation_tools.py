"""Model picker over the catalog, sidebar search/rename/delete, per-conversation settings, custom endpoints."""
import re

import pytest
from playwright.sync_api import expect

from chats.models import Conversation, Message
from providers.models import CustomEndpoint


@pytest.fixture
def catalog_in_process(settings):
    # With a broker configured the catalog refresh would wait for a worker; here the request fetches it.
    settings.CELERY_BROKER_URL = ""


def test_model_picker_searches_the_catalog_and_filters_by_provider(
    new_page, live, ui_user, fake_provider, catalog_in_process, shot
):
    page = new_page(user=ui_user)
    page.goto(f"{live}/")
    page.click("#model-chip")
    options = page.locator("#picker-list .model-option")
    expect(options.first).to_be_visible()
    assert options.count() > 4
    page.fill("#picker-q", "story")
    expect(options.first).to_contain_text("story")
    for text in options.all_inner_texts():
        assert "story" in text
    page.select_option("#picker-provider", "anthropic")
    expect(options).to_have_count(1)
    expect(options.first).to_contain_text("anthropic/story-5-0")
    shot(page, "model-picker")
    options.first.click()
    expect(page.locator("#model-chip-label")).to_have_text("anthropic/story-5-0")
    # The choice is remembered for the next new chat.
    page.reload()
    expect(page.locator("#model-chip-label")).to_have_text("anthropic/story-5-0")


def test_sidebar_search_rename_and_delete(new_page, live, ui_user):
    keep = Conversation.objects.create(owner=ui_user, title="Sourdough schedule")
    Message.objects.create(conversation=keep, role="user", content="How long should the levain rise?")
    other = Conversation.objects.create(owner=ui_user, title="Tax questions")
    page = new_page(user=ui_user)
    page.goto(f"{live}/")
    expect(page.locator(".conv-item")).to_have_count(2)
    # Search finds message text, not only titles.
    page.fill("#conv-search", "levain")
    page.press("#conv-search", "Enter")
    expect(page.locator(".conv-item")).to_have_count(1)
    expect(page.locator(".conv-item")).to_contain_text("Sourdough schedule")
    page.fill("#conv-search", "nothing like this")
    page.press("#conv-search", "Enter")
    expect(page.locator(".conv-empty")).to_contain_text("No conversation matches")

    page.goto(f"{live}/")
    item = page.locator(f'.conv-item[data-conversation-id="{other.id}"]')
    item.hover()
    item.locator("[data-rename]").click()
    field = item.locator("input")
    field.fill("Taxes 2026")
    field.press("Enter")
    expect(item.locator("a")).to_have_text("Taxes 2026")
    other.refresh_from_db()
    assert other.title == "Taxes 2026"

    page.once("dialog", lambda d: d.accept())
    item.hover()
    item.locator("[data-delete]").click()
    expect(item).to_have_count(0)
    assert not Conversation.objects.filter(pk=other.pk).exists()
    assert Conversation.objects.filter(pk=keep.pk).exists()


def test_conversation_settings_and_rename_from_the_page(new_page, live, ui_user, shot):
    conv = Conversation.objects.create(owner=ui_user, title="Untitled", default_model="openai/echo")
    page = new_page(user=ui_user)
    page.goto(f"{live}/c/{conv.id}/")
    page.click("[data-open-settings]")
    page.fill("#set-system", "You are a pirate.")
    page.fill("#set-temperature", "0.7")
    page.fill("#set-max-tokens", "256")
    page.select_option("#set-reasoning", "low")
    shot(page, "conversation-settings")
    expect(page.locator("#system-badge")).to_be_hidden()
    page.click("#settings-save")
    expect(page.locator("#settings-dialog")).not_to_be_visible()
    expect(page.locator("#system-badge")).to_be_visible()
    conv.refresh_from_db()
    assert conv.system_prompt == "You are a pirate."
    assert conv.params == {"temperature": 0.7, "max_tokens": 256, "reasoning_effort": "low"}
    page.reload()
    page.click("[data-open-settings]")
    expect(page.locator("#set-system")).to_have_value("You are a pirate.")
    expect(page.locator("#set-max-tokens")).to_have_value("256")
    page.keyboard.press("Escape")

    page.once("dialog", lambda d: d.accept("Pirate talk"))
    page.click("#rename-current")
    expect(page.locator("#conv-title")).to_have_text("Pirate talk")
    expect(page.locator(".conv-item.active a")).to_have_text("Pirate talk")


def test_another_users_conversation_is_not_found(new_page, live, ui_user, django_user_model):
    stranger = django_user_model.objects.create_user(username="eve", password="x-long-enough-passphrase")
    theirs = Conversation.objects.create(owner=stranger, title="Private")
    page = new_page(user=ui_user)
    response = page.goto(f"{live}/c/{theirs.id}/")
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("Nothing here")
    assert "Private" not in page.content()


def test_custom_endpoint_is_added_with_a_masked_key(new_page, live, ui_user, fake_provider):
    secret = "endpoint-secret-value-0042"
    # Only an admin may point an endpoint at loopback, where the fake provider listens.
    ui_user.is_staff = ui_user.is_superuser = True
    ui_user.save()
    page = new_page(user=ui_user)
    page.goto(f"{live}/settings/keys/")
    expect(page.locator("#provider-list .badge").first).to_be_visible()
    page.fill("#ep-name", "Lab vLLM")
    page.fill("#ep-slug", "labvllm")
    page.fill("#ep-url", f"{fake_provider.url}/labvllm")
    page.fill("#ep-key", secret)
    page.check("#ep-shared")
    page.click("#endpoint-form button[type=submit]")
    row = page.locator("#endpoint-table tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("labvllm")
    expect(row).to_contain_text(secret[-4:])
    assert secret not in page.content()
    expect(page.locator('#provider-list [data-provider="labvllm"]')).to_be_visible()
    expect(row).to_contain_text("shared")
    assert CustomEndpoint.objects.get(owner=None).slug == "labvllm"
    page.once("dialog", lambda d: d.accept())
    row.locator("[data-delete-endpoint]").click()
    expect(page.locator("#endpoint-table")).to_be_hidden()


def test_key_validation_reports_the_providers_answer(new_page, live, ui_user, fake_provider):
    page = new_page(user=ui_user)
    page.goto(f"{live}/settings/keys/")
    page.select_option("#key-provider", "openai")
    page.fill("#key-value", "sk-fake-validation-key-1234")
    page.click("#key-form button[type=submit]")
    row = page.locator("#key-table tbody tr")
    expect(row).to_have_count(1)
    row.locator("[data-validate]").click()
    expect(row.locator("[data-valid] .badge")).to_have_text(re.compile(r"^(valid|invalid)$"))
    ui_user.provider_keys.get().refresh_from_db()
    assert ui_user.provider_keys.get().last_validated_at is not None
