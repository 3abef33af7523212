"""Issue 14's page bugs in the browser: the drawer at phone width, keyboard paths, the endpoint slug check, the
picker's Enter before the catalog loads, the settings page's theme; screenshots light and dark, desktop and phone."""
import json
import re

import pytest
from playwright.sync_api import expect

from chats.models import Conversation
from chats.services import conversation_create, message_create
from tests.chats.test_export_share import chatgpt_export

PHONE = {"width": 390, "height": 800}


@pytest.fixture
def two_conversations(ui_user):
    older = conversation_create(owner=ui_user, title="Older talk about lighthouses")
    message_create(conversation=older, content="lighthouses?")
    newer = conversation_create(owner=ui_user, title="Newer chat")
    message_create(conversation=newer, content="hello")
    return older, newer


def test_phone_drawer_closes_with_escape_and_keeps_search_results(new_page, live, ui_user, two_conversations, shot):
    page = new_page(user=ui_user, **PHONE)
    page.goto(f"{live}/c/{two_conversations[1].pk}/")
    page.get_by_role("button", name="Open menu").click()
    expect(page.locator("#app")).to_have_class(re.compile("nav-open"))
    page.keyboard.press("Escape")
    expect(page.locator("#app")).not_to_have_class(re.compile("nav-open"))
    page.get_by_role("button", name="Open menu").click()
    page.fill("#conv-search", "lighthouse")
    page.press("#conv-search", "Enter")
    expect(page).to_have_url(re.compile(r"\?q=lighthouse"))
    expect(page.locator("#app")).to_have_class(re.compile("nav-open"))
    expect(page.locator(".conv-item a")).to_have_text(["Older talk about lighthouses"])
    expect(page.locator(".conv-item a").first).to_be_in_viewport()
    shot(page, "phone-search-results")


def test_one_tab_stop_per_conversation_and_keyboard_rename(new_page, live, ui_user, two_conversations):
    older, newer = two_conversations
    page = new_page(user=ui_user)
    page.goto(f"{live}/c/{newer.pk}/")
    link = page.locator(f'.conv-item[data-conversation-id="{older.pk}"] a')
    page.locator(f'.conv-item[data-conversation-id="{newer.pk}"] a').focus()
    page.keyboard.press("Tab")
    expect(link).to_be_focused()  # the next conversation's link, not the active one's rename and delete
    link.focus()
    page.keyboard.press("ArrowRight")
    expect(page.locator(f'.conv-item[data-conversation-id="{older.pk}"] [data-rename]')).to_be_focused()
    link.focus()
    page.keyboard.press("F2")
    box = page.get_by_label("New title")
    box.fill("Renamed by keyboard")
    box.press("Enter")
    expect(link).to_have_text("Renamed by keyboard")
    older.refresh_from_db()
    assert older.title == "Renamed by keyboard"


def test_skip_link_reaches_the_composer_and_a_new_chat_focuses_it(new_page, live, ui_user):
    page = new_page(user=ui_user)
    page.goto(f"{live}/")
    expect(page.locator("#composer-input")).to_be_focused()
    # From the top of the page (as after loading it with the keyboard), the first Tab reaches the skip link.
    page.evaluate("document.body.tabIndex = -1; document.body.focus()")
    page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("#composer-input")).to_be_focused()


CATALOG = {"results": [{"id": f"openai/{name}", "name": name, "provider": "openai"}
                       for name in ("echo", "story-5-0", "think-4-0")]}


def serve_catalog(route):
    route.fulfill(status=200, content_type="application/json", body=json.dumps(CATALOG))


def test_picker_enter_before_the_catalog_loads_picks_the_typed_match(new_page, live, ui_user):
    conversation = conversation_create(owner=ui_user, default_model="openai/echo")
    page = new_page(user=ui_user)
    # Hold the catalog back until Enter is pressed.
    held = []
    page.route("**/api/v1/models/**", lambda route: held.append(route))
    page.goto(f"{live}/c/{conversation.pk}/")
    page.click("#model-chip")
    page.fill("#picker-q", "story-5")
    page.press("#picker-q", "Enter")
    expect(page.locator("#model-picker")).to_be_visible()
    expect(page.locator("#model-chip-label")).to_have_text("openai/echo")
    expect(page.locator("#picker-status")).to_contain_text("Enter picks the first match")
    for route in held:
        serve_catalog(route)
    # The first match of what was typed, once the catalog is here; never the model chosen before.
    expect(page.locator("#model-chip-label")).to_have_text("openai/story-5-0")


def test_picker_arrow_keys_walk_the_list(new_page, live, ui_user):
    page = new_page(user=ui_user)
    page.route("**/api/v1/models/**", serve_catalog)
    page.goto(f"{live}/")
    page.click("#model-chip")
    expect(page.locator(".model-option").first).to_be_visible()
    page.press("#picker-q", "ArrowDown")
    expect(page.locator(".model-option").first).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(page.locator(".model-option").nth(1)).to_be_focused()
    chosen = page.locator(".model-option").nth(1).get_attribute("data-model-id")
    page.keyboard.press("Enter")
    expect(page.locator("#model-chip-label")).to_have_text(chosen)


def test_endpoint_slug_check_runs_in_the_browser(new_page, live, ui_user):
    page = new_page(user=ui_user)
    page.goto(f"{live}/settings/keys/")
    slug = page.locator("#ep-slug")
    slug.fill("Bad Slug!")
    assert slug.evaluate("el => el.validity.patternMismatch") is True
    slug.fill("my-vllm_2")
    assert slug.evaluate("el => el.validity.valid") is True
    assert page.js_errors == []


def test_wide_tables_scroll_inside_their_card_at_phone_width(new_page, live, ui_user, shot):
    from accounts.services import api_token_create
    from chats.services import preset_create
    from providers.models import ProviderKey

    for name in ("a laptop script with a long name", "ci"):
        api_token_create(user=ui_user, name=name)
    key = ProviderKey(owner=ui_user, provider="openrouter", label="a rather long label for the work key")
    key.set_secret("sk-or-very-secret-123456")
    key.save()
    preset_create(owner=ui_user, name="A preset with quite a long name", model="openrouter/anthropic/claude-sonnet-4-5",
                  system_prompt="Be brief.")
    page = new_page(user=ui_user, **PHONE)
    for path in ("/settings/tokens/", "/settings/keys/", "/presets/"):
        page.goto(f"{live}{path}")
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, path
        page_overflow = page.evaluate("Math.max(...[...document.querySelectorAll('.page')].map("
                                      "p => p.scrollWidth - p.clientWidth))")
        assert page_overflow <= 0, (path, page_overflow)
    shot(page, "phone-presets")


def test_settings_theme_import_and_screenshots(new_page, live, ui_user, fake_provider, shot, tmp_path):
    page = new_page(user=ui_user)
    page.goto(f"{live}/settings/")
    page.get_by_label("Dark").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#settings-notice")).to_contain_text("Settings saved")
    assert page.evaluate("document.documentElement.dataset.resolvedTheme") == "dark"
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background != "rgb(255, 255, 255)"
    export = tmp_path / "conversations.json"
    export.write_text(json.dumps(chatgpt_export()))
    page.set_input_files("input[name=file]", str(export))
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#settings-notice")).to_contain_text("Imported 1 conversation")
    page.locator(".imported-link", has_text="CRDTs").click()
    expect(page.locator(".msg-user .msg-body")).to_have_text("What is a CRDT, briefly?")
    expect(page.locator(".msg-user .switcher-count")).to_have_text("2/2")
    assert Conversation.objects.filter(owner=ui_user, title="CRDTs").exists()
    shot(page, "imported-dark")
    page.get_by_role("button", name="Open menu").count()
    page.goto(f"{live}/settings/")
    page.get_by_label("Light").check()
    page.get_by_role("button", name="Save").click()
    assert page.evaluate("document.documentElement.dataset.resolvedTheme") == "light"
    shot(page, "settings-light")


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_conversation_screenshots(new_page, live, ui_user, fake_provider, shot, scheme, size):
    """The tree UI at both widths in both schemes (the OS scheme; the user's theme is "system")."""
    conversation = conversation_create(owner=ui_user, title="Screenshots of the tree", default_model="openai/echo")
    question = message_create(conversation=conversation, content="Which sorting algorithm should I use?")
    from chats.models import Message

    answers = [("openai/gpt-4o", "Use **quicksort** for arrays."), ("anthropic/claude-x", "Timsort is stable.")]
    for model, text in answers:
        Message.objects.create(conversation=conversation, role="assistant", reply_to=question, content=text,
                               model=model, selected=model == "anthropic/claude-x")
    page = new_page(user=ui_user, color_scheme=scheme, **(PHONE if size == "phone" else {}))
    page.goto(f"{live}/c/{conversation.pk}/")
    expect(page.locator(".msg-assistant .switcher-count")).to_have_text("2/2")
    shot(page, f"tree-{size}-{scheme}")
    page.goto(f"{live}/settings/")
    shot(page, f"settings-{size}-{scheme}")
    assert page.js_errors == []


def test_phone_compare_button_stays_on_screen_after_a_run(new_page, live, ui_user, fake_provider, shot):
    from tests.ui.test_compare_merge import column, pick_models

    page = new_page(user=ui_user, **PHONE)
    page.goto(f"{live}/compare/")
    pick_models(page, "#add-models", ["openai/story-3-0", "openai/echo"])
    page.fill("#compare-prompt", "Count")
    page.click("#compare-run")
    expect(column(page, "openai/echo").locator(".badge")).to_have_text("done", timeout=15_000)
    expect(page.locator("#compare-new")).to_be_visible()
    button = page.locator("#compare-run").bounding_box()
    assert button["x"] >= 0 and button["x"] + button["width"] <= PHONE["width"], button
    page.fill("#compare-prompt", "And again")
    page.click("#compare-run")
    expect(page.locator("#compare-status")).to_contain_text("of 2 answered", timeout=15_000)
    shot(page, "phone-compare-second-run")
