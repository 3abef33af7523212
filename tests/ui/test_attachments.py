"""The composer's attachments and dictation in Chromium against the live app and the fake provider: attach by button,
drag and drop and paste, thumbnails and chips, clear refusals, and the microphone only when STT is configured."""
import base64
import hashlib
import re

import pytest
from playwright.sync_api import expect

from tests.ui.test_chat import start_chat
from tests.uploads import files

PNG = files.image("PNG", size=(64, 48), color=(30, 120, 200))
NOTES = b"# Shopping\n\n- apples\n- pears\n"

# A fake microphone that needs no permission prompt (the page still asks getUserMedia).
CHROMIUM_EXTRA_ARGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


@pytest.fixture(autouse=True)
def upload_root(tmp_path, settings):
    root = tmp_path / "uploads"
    settings.STORAGES = {**settings.STORAGES, "uploads": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}}}
    return root


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def attach_by_button(page, name: str, data: bytes, mime: str):
    with page.expect_file_chooser() as chooser:
        page.click("#attach-btn")
    chooser.value.set_files([{"name": name, "mimeType": mime, "buffer": data}])


def drop_or_paste(page, how: str, name: str, data: bytes, mime: str):
    """A real DataTransfer holding a File, dropped on the composer or pasted into the message box."""
    page.evaluate("""([how, name, b64, mime]) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], name, { type: mime }));
        if (how === "paste") {
            document.getElementById("composer-input").dispatchEvent(
                new ClipboardEvent("paste", { clipboardData: transfer, bubbles: true, cancelable: true }));
        } else {
            const target = document.getElementById("composer");
            for (const type of ["dragenter", "dragover", "drop"]) {
                target.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
            }
        }
    }""", [how, name, base64.b64encode(data).decode(), mime])


def open_conversation(page, live, model: str):
    start_chat(page, live, model, "Hello")
    expect(page.locator(".msg-assistant .msg-body").last).not_to_be_empty()
    expect(page.locator("#send-btn")).to_be_visible()


def test_attach_by_button_shows_thumbnails_and_the_model_gets_the_bytes(new_page, live, ui_user, fake_provider, shot):
    page = new_page(user=ui_user)
    open_conversation(page, live, "anthropic/describe")
    attach_by_button(page, "photo.png", PNG, "image/png")
    attach_by_button(page, "list.md", NOTES, "text/markdown")
    expect(page.locator(".composer-file.ready")).to_have_count(2)
    expect(page.locator(".composer-file.ready img.composer-thumb")).to_have_count(1)
    shot(page, "attachments-composer-desktop")
    page.fill("#composer-input", "What are these?")
    page.press("#composer-input", "Enter")
    reply = page.locator(".msg-assistant .msg-body").last
    expect(reply).to_contain_text(f"sha256={sha(PNG)}")
    expect(reply).to_contain_text(f"sha256={sha(NOTES)}")
    expect(page.locator(".composer-file")).to_have_count(0)
    bubble = page.locator(".msg-user").last
    expect(bubble.locator(".file-thumb img")).to_have_count(1)
    expect(bubble.locator(".file-chip")).to_contain_text("list.md")

    # After a reload the thread shows them from the server; the thumbnail opens the image full size.
    page.reload()
    bubble = page.locator(".msg-user").last
    expect(bubble.locator(".file-thumb img")).to_have_count(1)
    bubble.locator(".file-thumb").click()
    expect(page.locator("#lightbox")).to_be_visible()
    expect(page.locator("#lightbox-img")).to_have_attribute("src", re.compile(r"/api/v1/uploads/[0-9a-f-]+/content/$"))
    assert page.evaluate("document.getElementById('lightbox-img').naturalWidth") == 64
    shot(page, "attachments-lightbox-desktop")
    page.keyboard.press("Escape")
    shot(page, "attachments-thread-desktop")
    assert page.js_errors == []


@pytest.mark.parametrize("how", ["drop", "paste"])
def test_drag_and_drop_and_paste_attach_images(new_page, live, ui_user, fake_provider, how):
    page = new_page(user=ui_user)
    open_conversation(page, live, "gemini/describe")
    drop_or_paste(page, how, "clip.png", PNG, "image/png")
    expect(page.locator(".composer-file.ready img.composer-thumb")).to_have_count(1)
    page.fill("#composer-input", "And this?")
    page.press("#composer-input", "Enter")
    expect(page.locator(".msg-assistant .msg-body").last).to_contain_text(f"sha256={sha(PNG)}")
    assert page.js_errors == []


def test_files_can_be_removed_before_sending(new_page, live, ui_user, fake_provider):
    page = new_page(user=ui_user)
    open_conversation(page, live, "openai/describe")
    attach_by_button(page, "list.md", NOTES, "text/markdown")
    expect(page.locator(".composer-file.ready")).to_have_count(1)
    page.click(".composer-file .file-remove")
    expect(page.locator(".composer-file")).to_have_count(0)
    page.fill("#composer-input", "Nothing attached")
    page.press("#composer-input", "Enter")
    expect(page.locator(".msg-assistant .msg-body").last).to_have_text("No attachments.")


def test_clear_errors_for_too_large_and_unreadable_files(new_page, live, ui_user, fake_provider, settings, shot):
    settings.PARLEY_UPLOAD_MAX_BYTES = 1000
    page = new_page(user=ui_user, width=390, height=760)
    open_conversation(page, live, "openai/describe")
    attach_by_button(page, "big.txt", b"a" * 5000, "text/plain")
    expect(page.locator(".composer-file.error")).to_contain_text("Too large")
    attach_by_button(page, "archive.zip", files.ZIP, "application/zip")
    expect(page.locator(".composer-file.error").last).to_contain_text("cannot be attached")
    shot(page, "attachments-errors-phone")
    page.click(".composer-file.error .file-remove")
    page.click(".composer-file.error .file-remove")
    expect(page.locator(".composer-file")).to_have_count(0)
    assert page.js_errors == []


def test_a_model_without_vision_refuses_the_image_and_keeps_the_draft(new_page, live, ui_user, fake_provider, shot):
    page = new_page(user=ui_user)
    open_conversation(page, live, "openai/echo")
    users_before = page.locator(".msg-user").count()
    attach_by_button(page, "photo.png", PNG, "image/png")
    expect(page.locator(".composer-file.ready")).to_have_count(1)
    page.fill("#composer-input", "What is this?")
    page.press("#composer-input", "Enter")
    expect(page.locator(".toast")).to_contain_text("cannot read images")
    expect(page.locator(".composer-file.ready")).to_have_count(1)
    expect(page.locator("#composer-input")).to_have_value("What is this?")
    expect(page.locator(".msg-user")).to_have_count(users_before)
    shot(page, "attachments-refused-desktop")


def test_attachments_from_the_new_chat_page(new_page, live, ui_user, fake_provider, shot):
    page = new_page(user=ui_user, width=390, height=760)
    page.goto(f"{live}/")
    page.click("#model-chip")
    page.fill("#picker-q", "openrouter/fake/describe")
    page.press("#picker-q", "Enter")
    attach_by_button(page, "photo.png", PNG, "image/png")
    expect(page.locator(".composer-file.ready")).to_have_count(1)
    shot(page, "attachments-new-chat-phone")
    page.fill("#composer-input", "Describe it")
    page.press("#composer-input", "Enter")
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}/$"))
    expect(page.locator(".msg-assistant .msg-body").last).to_contain_text(f"sha256={sha(PNG)}")
    expect(page.locator(".msg-user .file-thumb img")).to_have_count(1)
    shot(page, "attachments-thread-phone")


def test_no_microphone_without_stt(new_page, live, ui_user, settings):
    settings.DEEPGRAM_API_KEY = ""
    page = new_page(user=ui_user)
    page.goto(f"{live}/")
    expect(page.locator("#attach-btn")).to_be_visible()
    expect(page.locator("#mic-btn")).to_have_count(0)


def test_the_microphone_dictates_into_the_composer(new_page, live, ui_user, fake_provider, settings, shot):
    settings.DEEPGRAM_API_KEY = "dg-test-key"
    settings.DEEPGRAM_BASE_URL = f"{fake_provider.url}/deepgram"
    page = new_page(user=ui_user)
    page.goto(f"{live}/")
    assert "dg-test-key" not in page.content()
    page.fill("#composer-input", "Note:")
    page.click("#mic-btn")
    expect(page.locator("#mic-btn")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#mic-label")).to_be_visible()
    expect(page.locator("#composer-input")).to_have_value("Note: hello from the fake microphone")
    shot(page, "dictation-listening-desktop")
    page.click("#mic-btn")
    expect(page.locator("#mic-btn")).to_have_attribute("aria-pressed", "false")
    (listen,) = [r for r in fake_provider.requests() if r["method"] == "WEBSOCKET"]
    assert listen["path"] == "/deepgram/v1/listen" and listen["subprotocols"][0] == "bearer"
    assert listen["subprotocols"][1].startswith("fake-dg-")
    assert page.js_errors == []
