"""In Chromium: a model's remote image loads nothing until clicked; no page breaks the policy (docs, admin, errors)."""
import re

import pytest
from playwright.sync_api import expect

from tests.ui.test_chat import REPLY, start_chat

pytestmark = pytest.mark.browser


def image_requests(fake_provider) -> list[dict]:
    return [r for r in fake_provider.requests() if r["path"].startswith("/media/")]


def test_a_remote_image_in_an_answer_loads_only_when_clicked(new_page, live, ui_user, fake_provider, shot):
    image = f"{fake_provider.url}/media/pixel.png"
    host = image.split("/")[2]
    page = new_page(user=ui_user)
    # `echo` repeats the prompt: the answer is markdown with an image on another host (the fake's port).
    start_chat(page, live, "openai/echo", f"Look: ![a chart]({image}?q=secret+conversation+text)")
    reply = page.locator(REPLY).last
    placeholder = reply.locator(".remote-image")
    expect(placeholder).to_contain_text(f"Image from {host}")
    expect(placeholder).to_contain_text("a chart")
    expect(page.locator(".msg-assistant .msg-meta")).to_contain_text("total")
    page.wait_for_timeout(300)
    assert image_requests(fake_provider) == []
    assert page.locator("#messages img").count() == 0
    shot(page, "chat-remote-image-placeholder")

    reply.get_by_role("button", name="Show image").click()
    frame = reply.locator("iframe.remote-image-frame")
    expect(frame).to_have_attribute("src", re.compile(re.escape(image)))
    expect(placeholder).to_have_count(0)
    for _ in range(100):
        if image_requests(fake_provider):
            break
        page.wait_for_timeout(50)
    fetched = image_requests(fake_provider)
    assert len(fetched) == 1 and "secret+conversation+text" in fetched[0]["query"]
    assert "referer" not in fetched[0]["headers"]  # no page address goes with it
    shot(page, "chat-remote-image-shown")
    assert page.js_errors == []


def test_docs_admin_and_error_pages_work_under_the_policy(new_page, live, admin_user, shot):
    page = new_page(user=admin_user)
    page.goto(f"{live}/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Parley API")
    expect(page.locator(".opblock").first).to_be_visible()
    shot(page, "csp-swagger-ui")
    page.goto(f"{live}/api/redoc/")
    expect(page.locator("h1")).to_contain_text("Parley API", timeout=20_000)
    expect(page.get_by_text("Service health").first).to_be_attached()
    shot(page, "csp-redoc")
    page.goto(f"{live}/admin/auth/user/")
    expect(page.locator("#result_list")).to_contain_text(admin_user.username)
    page.goto(f"{live}/no-such-page/")
    expect(page.locator("h1")).to_have_text("Nothing here")
    assert page.js_errors == []
