"""Compare and merge in the browser: columns streaming side by side, picking and fusing answers, merging chats."""
import re

import pytest
from playwright.sync_api import expect

from chats.models import Conversation, Message


def pick_models(page, opener: str, models: list[str]):
    """Open the picker with `opener` and choose `models` by typing their ids."""
    page.click(opener)
    for model in models:
        page.fill("#picker-q", model)
        page.press("#picker-q", "Enter")
        expect(page.locator(f'.model-option.on[data-model-id="{model}"]')).to_have_count(1)
    page.click("#picker-ok")


def pick_model(page, opener: str, model: str, label: str):
    """Single choice: Enter picks the typed id and closes the picker."""
    page.click(opener)
    page.fill("#picker-q", model)
    page.press("#picker-q", "Enter")
    expect(page.locator(label)).to_have_text(model)


@pytest.fixture
def in_process_tasks(settings):
    """Merge jobs on a thread of the live server even when a broker is configured (no worker runs here)."""
    settings.CELERY_BROKER_URL = ""


def column(page, model: str):
    return page.locator(f'.column[data-model="{model}"]')


def test_compare_three_models_with_one_failing_then_fuse(
    new_page, live, ui_user, fake_provider, in_process_tasks, shot
):
    good, thinker, bad = "openai/story-8-60", "openai/think-6-60", "openai/fail-after-2"
    page = new_page(user=ui_user, width=1440)
    page.goto(f"{live}/compare/")
    shot(page, "compare-empty")
    pick_models(page, "#add-models", [good, thinker, bad])
    expect(page.locator("#compare-models .chip")).to_have_count(3)
    page.fill("#compare-prompt", "Name eight words")
    page.press("#compare-prompt", "Enter")
    expect(page.locator(".column")).to_have_count(3)

    expect(column(page, good).locator(".badge")).to_have_text("done", timeout=15_000)
    expect(column(page, good).locator(".answer")).to_have_text(" ".join(f"w{i}" for i in range(1, 9)))
    expect(column(page, thinker).locator(".badge")).to_have_text("done")
    expect(column(page, thinker).locator("details.reasoning")).to_be_visible()
    expect(column(page, bad).locator(".badge")).to_have_text("failed")
    expect(column(page, bad).locator(".msg-error")).to_be_visible()
    for model in (good, thinker):
        foot = column(page, model).locator(".column-foot")
        expect(foot).to_contain_text("TTFT")
        expect(foot).to_contain_text("latency")
        expect(column(page, model).get_by_role("button", name="Continue with this")).to_be_enabled()
    expect(column(page, bad).get_by_role("button", name="Continue with this")).to_be_disabled()
    shot(page, "compare-done")
    page.set_viewport_size({"width": 390, "height": 800})
    page.wait_for_timeout(300)  # the off-canvas sidebar slides away
    shot(page, "compare-done-phone")
    page.set_viewport_size({"width": 1440, "height": 860})

    # Fuse the two good answers into one.
    expect(page.locator("#fuse-bar")).to_be_visible()
    pick_model(page, "#fuse-model", "openai/merge-tagged-30", "#fuse-model-label")
    page.click("#fuse-run")
    expect(page.locator("#fuse-output")).to_contain_text("Fused answer", timeout=15_000)
    expect(page.locator("#fuse-open")).to_be_visible()
    shot(page, "compare-fused")
    page.click("#fuse-open")
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}/$"))
    expect(page.locator(".msg-assistant .msg-body")).to_contain_text("Fused answer")
    # Four versions behind the `‹ n/4 ›` switcher (issue 14's tree UI), the fused one marked.
    expect(page.locator(".msg-assistant .switcher-count")).to_have_text(re.compile(r"^\d/4$"))
    expect(page.locator(".msg-assistant .switcher .badge")).to_have_text("fused")
    shot(page, "conversation-siblings")


def test_continue_with_a_chosen_answer(new_page, live, ui_user, fake_provider):
    first, second = "openai/story-3-20", "openai/story-5-20"
    page = new_page(user=ui_user)
    page.goto(f"{live}/compare/")
    pick_models(page, "#add-models", [first, second])
    page.fill("#compare-prompt", "Count")
    page.click("#compare-run")
    expect(column(page, second).locator(".badge")).to_have_text("done", timeout=15_000)
    expect(column(page, first).locator(".badge")).to_have_text("done")
    expect(page.locator("#compare-open")).to_be_visible()
    column(page, second).get_by_role("button", name="Continue with this").click()
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}/$"))
    expect(page.locator(".msg-assistant .msg-body")).to_have_text("w1 w2 w3 w4 w5")
    expect(page.locator(".msg-assistant .switcher-label")).to_contain_text(second)
    assert Message.objects.get(role="assistant", selected=True).model == second
    # Switching answers in the conversation page (the `‹ 2/2 ›` switcher) selects the other sibling.
    page.locator(".msg-assistant .switcher [data-prev]").click()
    expect(page.locator(".msg-assistant .switcher-label")).to_contain_text(first)
    expect(page.locator(".msg-assistant .msg-body")).to_have_text("w1 w2 w3")
    assert Message.objects.get(role="assistant", selected=True).model == first


def _conversation(user, title, exchanges):
    conv = Conversation.objects.create(owner=user, title=title)
    for question, answer in exchanges:
        Message.objects.create(conversation=conv, role="user", content=question)
        Message.objects.create(conversation=conv, role="assistant", content=answer, model="openai/gpt-4o")
    return conv


def test_merge_two_conversations(new_page, live, ui_user, fake_provider, in_process_tasks, shot):
    a = _conversation(ui_user, "Packing list", [("What to pack for Oslo?", "A warm coat and boots.")])
    b = _conversation(ui_user, "Oslo museums", [("Which museums?", "The Munch museum and the Fram museum.")])
    _conversation(ui_user, "Unrelated", [("Hi", "Hello")])
    page = new_page(user=ui_user)
    page.goto(f"{live}/merge/")
    expect(page.locator("#merge-run")).to_be_disabled()
    page.locator(".check-item", has_text="Packing list").locator("input").check()
    page.locator(".check-item", has_text="Oslo museums").locator("input").check()
    expect(page.locator("#merge-run")).to_be_enabled()
    pick_model(page, "#merge-model", "openai/merge-tagged-30", "#merge-model-label")
    page.fill("#merge-instructions", "Keep every fact.")
    page.click("#merge-run")
    expect(page.locator("#merge-open")).to_be_visible(timeout=20_000)
    expect(page.locator("#merge-state")).to_have_text("succeeded")
    expect(page.locator("#merge-output")).to_contain_text("Munch")
    page.wait_for_timeout(400)  # let the progress bar finish its transition
    shot(page, "merge-done")
    page.click("#merge-open")
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}/$"))
    sources = page.locator("#merge-sources")
    expect(sources).to_contain_text("Packing list")
    expect(sources).to_contain_text("Oslo museums")
    expect(sources).not_to_contain_text("Unrelated")
    expect(page.locator("#messages")).to_contain_text("warm coat")
    expect(page.locator("#messages")).to_contain_text("Fram museum")
    merged = Conversation.objects.get(pk=page.url.rstrip("/").rsplit("/", 1)[-1])
    assert set(merged.merged_from.values_list("pk", flat=True)) == {a.pk, b.pk}
    shot(page, "merged-conversation")
    page.goto(f"{live}/merge/")
    history = page.locator("#merge-history")
    expect(history).to_contain_text("2 conversations")
    expect(history).to_contain_text("succeeded")
    history.get_by_role("link", name="Open").click()
    expect(page.locator("#merge-sources")).to_contain_text("Packing list")
