"""The conversation tree in the browser (issue 14): edit, regenerate with another model, continue, delete, the
switcher after a reload, live tabs, refused sends kept, share links."""
import re

from playwright.sync_api import expect

from chats.models import Conversation, Message, MessageStatus
from chats.services import conversation_create, message_create
from tests.ui.test_chat import REPLY, start_chat


def conversation_id(page) -> str:
    return page.url.rstrip("/").rsplit("/", 1)[-1]


def pick(page, model: str):
    page.fill("#picker-q", model)
    page.press("#picker-q", "Enter")


def test_edit_in_place_makes_a_branch_and_the_switcher_survives_a_reload(new_page, live, ui_user, fake_provider, shot):
    page = new_page(user=ui_user)
    start_chat(page, live, "openai/echo", "first question")
    expect(page.locator(REPLY)).to_have_text("You said: first question")
    user = page.locator(".msg-user").first
    user.hover()
    user.get_by_role("button", name="Edit").click()
    box = page.get_by_label("Edit your message")
    expect(box).to_have_value("first question")
    box.fill("edited question")
    page.get_by_role("button", name="Save & send").click()
    expect(page.locator(REPLY)).to_have_text("You said: edited question")
    expect(page.locator(".msg-user .switcher-count")).to_have_text("2/2")
    expect(page.locator(".msg-user")).to_have_count(1)
    page.reload()
    expect(page.locator(".msg-user .msg-body")).to_have_text("edited question")
    expect(page.locator(".msg-user .switcher-count")).to_have_text("2/2")
    shot(page, "tree-edited")
    page.locator(".msg-user .switcher [data-prev]").click()
    expect(page.locator(".msg-user .msg-body")).to_have_text("first question")
    expect(page.locator(REPLY)).to_have_text("You said: first question")
    page.reload()
    expect(page.locator(".msg-user .msg-body")).to_have_text("first question")
    assert page.js_errors == []


def test_regenerate_an_older_reply_with_another_model(new_page, live, ui_user, fake_provider, shot):
    page = new_page(user=ui_user)
    start_chat(page, live, "openai/echo", "older")
    expect(page.locator(REPLY)).to_have_text("You said: older")
    page.fill("#composer-input", "latest")
    page.press("#composer-input", "Enter")
    expect(page.locator(REPLY).last).to_have_text("You said: latest")
    first_reply = page.locator(".msg-assistant").first
    first_reply.hover()
    first_reply.get_by_role("button", name="Answer again with another model").click()
    pick(page, "openai/story-4-0")
    # The older question is answered again, by the chosen model; the branch after it is the new answer alone.
    expect(page.locator(REPLY)).to_have_text(["w1 w2 w3 w4"])
    expect(page.locator(".msg-assistant .model-name")).to_have_text("openai/story-4-0")
    labels = page.locator(".msg-assistant .switcher-label")
    expect(labels).to_contain_text("openai/story-4-0")
    page.reload()
    expect(page.locator(".msg-assistant .switcher-count")).to_have_text("2/2")
    page.locator(".msg-assistant .switcher [data-prev]").click()
    expect(page.locator(".msg-assistant .switcher-label").first).to_contain_text("openai/echo")
    expect(page.locator(REPLY)).to_have_text(["You said: older", "You said: latest"])
    shot(page, "tree-regenerated")
    assert page.js_errors == []


def test_retry_uses_the_model_in_the_picker(new_page, live, ui_user, fake_provider):
    page = new_page(user=ui_user)
    start_chat(page, live, "openai/fail-after-0", "will fail")
    expect(page.locator(".msg-assistant .badge")).to_have_text("Failed")
    page.click("#model-chip")
    pick(page, "openai/echo")
    page.locator(".msg-error").get_by_role("button", name="Retry").click()
    expect(page.locator(REPLY)).to_have_text("You said: will fail")
    expect(page.locator(".msg-assistant")).to_have_count(1)
    assert Message.objects.filter(role="assistant", model="openai/echo", selected=True).count() == 1


def test_continue_a_stopped_reply(new_page, live, ui_user, fake_provider):
    conversation = conversation_create(owner=ui_user, default_model="openai/story-3-0")
    question = message_create(conversation=conversation, content="tell me")
    stopped = Message.objects.create(conversation=conversation, role="assistant", reply_to=question,
                                     content="Once upon ", status=MessageStatus.CANCELLED, model="openai/story-3-0")
    page = new_page(user=ui_user)
    page.goto(f"{live}/c/{conversation.pk}/")
    expect(page.locator(".msg-assistant .badge")).to_have_text("Stopped")
    page.locator(".msg-assistant").get_by_role("button", name="Continue").click()
    expect(page.locator(REPLY)).to_have_text("Once upon w1 w2 w3")
    expect(page.locator(".msg-assistant .badge")).to_be_hidden()
    expect(page.locator(".msg-assistant")).to_have_count(1)
    expect(page.locator("#stop-btn")).to_be_hidden()  # `done` came, so the end state is stored
    stopped.refresh_from_db()
    assert stopped.content == "Once upon w1 w2 w3 " and stopped.status == "complete"


def test_delete_asks_first_and_removes_the_branch(new_page, live, ui_user, fake_provider):
    page = new_page(user=ui_user)
    start_chat(page, live, "openai/echo", "keep me")
    expect(page.locator(REPLY)).to_have_text("You said: keep me")
    page.fill("#composer-input", "drop me")
    page.press("#composer-input", "Enter")
    expect(page.locator(REPLY).last).to_have_text("You said: drop me")
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    page.locator(".msg-user").last.get_by_role("button", name="Delete").click()
    expect(page.locator(".msg-user")).to_have_count(2)
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    page.locator(".msg-user").last.get_by_role("button", name="Delete").click()
    expect(page.locator(".msg-user")).to_have_count(1)
    expect(page.locator(REPLY)).to_have_text(["You said: keep me"])
    assert len(questions) == 2 and "cannot be undone" in questions[0]
    page.reload()
    expect(page.locator(".msg-user .msg-body")).to_have_text(["keep me"])
    assert Message.objects.count() == 2


def test_a_second_tab_sees_messages_from_the_first_tab_and_the_api(new_page, live, ui_user, fake_provider, shot):
    first = new_page(user=ui_user)
    start_chat(first, live, "openai/echo", "hello")
    expect(first.locator(REPLY)).to_have_text("You said: hello")
    second = new_page(user=ui_user)
    second.goto(first.url)
    expect(second.locator(REPLY)).to_have_text("You said: hello")
    second.wait_for_timeout(300)  # its socket is open
    first.fill("#composer-input", "from the first tab")
    first.press("#composer-input", "Enter")
    expect(second.locator(".msg-user .msg-body").last).to_have_text("from the first tab")
    expect(second.locator(REPLY).last).to_have_text("You said: from the first tab")
    # And from an API client.
    from accounts.services import api_token_create

    _, raw = api_token_create(user=ui_user, name="cli")
    response = second.request.post(f"{live}/api/v1/conversations/{conversation_id(first)}/completions/",
                                   data={"content": "from the api"}, headers={"Authorization": f"Bearer {raw}"})
    assert response.status == 200
    for page in (first, second):
        expect(page.locator(".msg-user .msg-body").last).to_have_text("from the api")
        expect(page.locator(REPLY).last).to_have_text("You said: from the api")
    shot(second, "tree-second-tab")
    assert first.js_errors == [] and second.js_errors == []


def test_a_message_for_an_unconfigured_provider_goes_back_to_the_composer(new_page, live, ui_user, fake_provider,
                                                                          settings):
    conversation = conversation_create(owner=ui_user, default_model="openai/echo")
    page = new_page(user=ui_user)
    page.goto(f"{live}/c/{conversation.pk}/")
    settings.PARLEY_PROVIDER_ENV = {}
    page.fill("#composer-input", "do not lose me")
    page.press("#composer-input", "Enter")
    expect(page.locator("#composer-input")).to_have_value("do not lose me")
    expect(page.locator(".msg-user")).to_have_count(0)
    expect(page.locator(".toast")).to_be_visible()
    assert Message.objects.count() == 0


def test_share_link_opens_logged_out_and_is_gone_after_revoke(new_page, live, ui_user, fake_provider, browser):
    page = new_page(user=ui_user)
    start_chat(page, live, "openai/echo", "share this")
    expect(page.locator(REPLY)).to_have_text("You said: share this")
    page.locator("#conv-export summary").click()
    page.get_by_role("button", name="Create a read-only share link").click()
    link = page.locator("#share-url")
    expect(link).to_have_value(re.compile(r"/s/[\w-]+/$"))
    url = link.input_value()
    stranger = new_page()
    stranger.goto(url)
    expect(stranger.locator("#shared-messages")).to_contain_text("share this")
    expect(stranger.locator("#shared-messages")).to_contain_text("You said: share this")
    expect(stranger.locator("#composer-input")).to_have_count(0)
    assert ui_user.username not in stranger.content()
    page.get_by_role("button", name="Revoke the share link").click()
    expect(page.locator(".toast")).to_contain_text("revoked")
    assert stranger.goto(url).status == 404
    assert Conversation.objects.get().shares.count() == 0


def test_reloading_the_tokens_page_makes_no_second_token(new_page, live, ui_user):
    page = new_page(user=ui_user)
    page.goto(f"{live}/settings/tokens/")
    page.fill("input[name=name]", "laptop")
    page.locator("form", has=page.locator("input[name=name]")).locator("button[type=submit]").click()
    expect(page.locator("#new-token-value")).to_be_visible()
    page.reload()
    expect(page.locator("#new-token-value")).to_have_count(0)
    assert ui_user.api_tokens.count() == 1
