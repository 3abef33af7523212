"""The chat page whose web process is killed mid-reply (issue 11): it reconnects to the process that takes over the
address, resumes with the last seq it saw, and shows the stored reply (the `snapshot`) with its status."""
import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from tests.fixtures.fake_provider import fake_provider_env
from tests.fixtures.faults import WebProcess, process_env
from tests.ui.conftest import _orm_beside_playwright, _session_cookie, browser, ui_user  # noqa: F401
from tests.ui.test_chat import REPLY, start_chat, watch_reply

pytestmark = [pytest.mark.services, pytest.mark.browser, pytest.mark.usefixtures("fake_provider")]


def test_the_chat_page_shows_the_stored_reply_after_its_web_process_was_killed(
        browser, start_web_process, fake_provider, ui_user):  # noqa: F811
    from io import StringIO

    from chats.models import Message

    env = fake_provider_env(fake_provider)
    runner = start_web_process(**env)
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(20_000)
    context.add_cookies([_session_cookie(ui_user, runner.url)])
    page = context.new_page()
    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    successor = None
    try:
        start_chat(page, runner.url, "openai/story-3000-5", "Tell me a story")
        watch_reply(page, until="w80")
        runner.kill()
        # Another process takes over the same address (as behind a load balancer); the page's reconnects wait in
        # the listening socket's queue meanwhile.
        successor = WebProcess(process_env(**env))
        successor.sock.close()
        successor.sock = runner.sock
        successor.start()
        call_command("repair_generations", stdout=StringIO())

        stored = Message.objects.get(role="assistant")
        assert stored.status == "interrupted" and stored.content.startswith("w1 w2 w3 ")
        # The page reconnects with backoff, and a follower hears an end written by another process within 5 s.
        expect(page.locator(".msg-assistant .badge")).to_have_text("Interrupted", timeout=30_000)
        expect(page.locator(REPLY)).to_have_text(stored.content.strip())
        expect(page.locator("#send-btn")).to_be_visible()
        # The chat page reloads the conversation after every `done`; what it draws before that, and what the
        # compare page draws, comes from the reducer, where the snapshot replaces the text the page had.
        assert page.evaluate("""() => {
            const d = Parley.replyState({});
            for (const e of [{type: "content", seq: 2, content: "w1 w2 w3 "},
                             {type: "reasoning", seq: 3, reasoning: "t"},
                             {type: "snapshot", content: "w1 w2 ", reasoning: ""}])
                Parley.reduceReply(d, e);
            return [d.content, d.reasoning];
        }""") == ["w1 w2 ", ""]
        assert js_errors == []
    finally:
        context.close()
        if successor is not None:
            successor.stop()
