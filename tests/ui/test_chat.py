"""The conversation page against the live app and the fake provider: streaming, stop, reload, retry, safety."""
import re
import time

from playwright.sync_api import expect

from chats.models import Message

REPLY = ".msg-assistant .msg-body"


def story(n: int) -> str:
    return " ".join(f"w{i}" for i in range(1, n + 1))


def start_chat(page, live, model: str, text: str):
    """From the new-chat page: pick `model` in the picker by typing its id, send `text` with Enter."""
    page.goto(f"{live}/")
    page.click("#model-chip")
    page.fill("#picker-q", model)
    page.press("#picker-q", "Enter")
    expect(page.locator("#model-chip-label")).to_have_text(model)
    page.fill("#composer-input", text)
    page.press("#composer-input", "Enter")
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}/$"))


def watch_reply(page, selector: str = REPLY, *, until: str, timeout: float = 15) -> list[str]:
    """The distinct texts the last reply element showed until it contained `until`."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = page.locator(selector)
        text = replies.last.inner_text().strip() if replies.count() else ""
        if text and (not seen or seen[-1] != text):
            seen.append(text)
        if until in text:
            return seen
        page.wait_for_timeout(25)
    raise AssertionError(f"the reply never showed {until!r}; saw {seen[-3:]}")


def test_reply_arrives_in_pieces_with_usage_and_latency(new_page, live, ui_user, fake_provider, shot):
    page = new_page(user=ui_user)
    sockets = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    start_chat(page, live, "openai/story-12-80", "Tell me a story")
    expect(page.locator(".msg-user .msg-body")).to_have_text("Tell me a story")
    seen = watch_reply(page, until="w12")
    partial = [t for t in seen if "w12" not in t]
    assert len(partial) >= 2, f"text did not arrive in pieces: {seen}"
    for earlier, later in zip(seen, seen[1:], strict=False):
        assert later.startswith(earlier.rstrip()) and len(later) > len(earlier)
    expect(page.locator(REPLY)).to_have_text(story(12))
    meta = page.locator(".msg-assistant .msg-meta")
    expect(meta).to_contain_text("total")
    expect(page.locator("#send-btn")).to_be_visible()
    expect(page.locator(".msg-assistant .model-name")).to_have_text("openai/story-12-80")
    assert any(url.endswith("/ws/conversations/" + page.url.rstrip("/").rsplit("/", 1)[-1] + "/") for url in sockets)
    # The conversation is listed in the sidebar under the first message's words.
    page.reload()
    expect(page.locator(".conv-item.active")).to_contain_text("Tell me a story")
    expect(page.locator(REPLY)).to_have_text(story(12))
    shot(page, "chat-complete")
    assert page.js_errors == []
    csp = page.request.get(page.url).headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src", 1)[1].split(";")[0]


def test_sse_is_the_fallback_without_websocket(new_page, live, ui_user, fake_provider):
    page = new_page(user=ui_user)
    page.add_init_script("delete window.WebSocket")
    sockets = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    start_chat(page, live, "openai/story-10-60", "Over SSE please")
    seen = watch_reply(page, until="w10")
    assert len([t for t in seen if "w10" not in t]) >= 2, seen
    expect(page.locator(".msg-assistant .msg-meta")).to_contain_text("total")
    page.fill("#composer-input", "and a second one")
    page.press("#composer-input", "Enter")
    expect(page.locator(REPLY).nth(1)).to_have_text(story(10))
    # Stop works over SSE too (the cancel endpoint of the generation).
    page.click("#model-chip")
    page.fill("#picker-q", "openai/story-60-100")
    page.press("#picker-q", "Enter")
    page.fill("#composer-input", "a long one")
    page.press("#composer-input", "Enter")
    watch_reply(page, until="w2")
    page.click("#stop-btn")
    expect(page.locator(".msg-assistant").nth(2).locator(".badge")).to_have_text("Stopped")
    assert sockets == []


def test_reasoning_is_folded_away(new_page, live, ui_user, fake_provider, shot):
    page = new_page(user=ui_user)
    start_chat(page, live, "openai/think-8-30", "Think first")
    expect(page.locator(REPLY)).to_have_text(story(8))
    details = page.locator(".msg-assistant details.reasoning")
    expect(details).to_be_visible()
    assert details.get_attribute("open") is None
    expect(details.locator(".reasoning-body")).to_be_hidden()
    details.locator("summary").click()
    expect(details.locator(".reasoning-body")).to_have_text("t1 t2 t3 t4")
    assert "t1" not in page.locator(REPLY).inner_text()
    shot(page, "chat-reasoning")
    page.reload()
    expect(page.locator(".msg-assistant details.reasoning")).to_be_visible()
    expect(page.locator(".msg-assistant details.reasoning .reasoning-body")).to_be_hidden()


def test_citations_and_tool_calls_are_shown(new_page, live, ui_user, fake_provider, shot):
    page = new_page(user=ui_user)
    start_chat(page, live, "perplexity/cite", "Is it so?")
    expect(page.locator(REPLY)).to_contain_text("yes.")
    links = page.locator(".msg-assistant .citations a")
    expect(links).to_have_count(2)
    expect(links.first).to_have_attribute("href", "https://example.com/one")
    expect(links.first).to_have_text("Source one")
    page.reload()
    expect(page.locator(".msg-assistant .citations a")).to_have_count(2)

    page.click("#model-chip")
    page.fill("#picker-q", "openai/tools")
    page.press("#picker-q", "Enter")
    page.fill("#composer-input", "Weather in Paris?")
    page.press("#composer-input", "Enter")
    tool = page.locator(".msg-assistant").last.locator(".tool-call")
    expect(tool).to_contain_text("Paris")
    shot(page, "chat-citations-tools")


def test_enter_sends_and_shift_enter_adds_a_line(new_page, live, ui_user, fake_provider):
    page = new_page(user=ui_user)
    start_chat(page, live, "openai/echo", "first")
    expect(page.locator(REPLY)).to_have_text("You said: first")
    page.fill("#composer-input", "line one")
    page.press("#composer-input", "Shift+Enter")
    page.type("#composer-input", "line two")
    assert page.input_value("#composer-input") == "line one\nline two"
    page.press("#composer-input", "Enter")
    expect(page.locator(".msg-user .msg-body").last).to_have_text("line one\nline two")
    expect(page.locator(REPLY).last).to_contain_text("line two")
    assert page.input_value("#composer-input") == ""

    # Regenerate asks again for the latest question: the new answer takes the old one's place, with a switcher
    # between the two (issue 14: a regenerated answer no longer stacks a second card).
    page.locator(".msg-assistant").last.get_by_role("button", name="Regenerate").click()
    expect(page.locator(".msg-assistant")).to_have_count(2)
    expect(page.locator(".msg-assistant").last.locator(".switcher-count")).to_have_text("2/2", timeout=15_000)
    expect(page.locator(REPLY).last).to_contain_text("You said: line one")
    expect(page.locator(REPLY).last).to_contain_text("line two")
    assert Message.objects.filter(role="assistant").count() == 3


def test_escape_stops_a_reply(new_page, live, ui_user, fake_provider):
    page = new_page(user=ui_user)
    start_chat(page, live, "openai/story-60-100", "Stop me with Escape")
    watch_reply(page, until="w2")
    page.keyboard.press("Escape")
    expect(page.locator(".msg-assistant .badge")).to_have_text("Stopped")
    assert "w60" not in page.locator(REPLY).inner_text()


def test_stop_keeps_the_text_so_far(new_page, live, ui_user, fake_provider, shot):
    page = new_page(user=ui_user)
    start_chat(page, live, "openai/story-60-100", "A long one please")
    watch_reply(page, until="w3")
    page.click("#stop-btn")
    badge = page.locator(".msg-assistant .badge")
    expect(badge).to_have_text("Stopped")
    text = page.locator(REPLY).inner_text()
    assert "w3" in text and "w60" not in text
    expect(page.locator("#send-btn")).to_be_visible()
    shot(page, "chat-stopped")
    message = Message.objects.get(role="assistant")
    assert message.status == "cancelled"
    assert message.content.strip() and "w60" not in message.content


def test_reload_mid_reply_shows_the_text_so_far_and_keeps_streaming(new_page, live, ui_user, fake_provider, shot):
    page = new_page(user=ui_user)
    start_chat(page, live, "openai/story-30-120", "Keep going")
    watch_reply(page, until="w4")
    page.reload()
    seen = watch_reply(page, until="w30")
    assert any("w30" not in t for t in seen), "after the reload the reply was already complete; nothing resumed"
    expect(page.locator(REPLY)).to_have_text(story(30))
    expect(page.locator(".msg-assistant")).to_have_count(1)
    shot(page, "chat-resumed")
    page.reload()
    expect(page.locator(REPLY)).to_have_text(story(30))


def test_a_dropped_socket_reconnects_and_resumes_without_gaps_or_repeats(new_page, live, ui_user, fake_provider):
    page = new_page(user=ui_user)
    connections = []

    def route(ws):
        server = ws.connect_to_server()
        connections.append(ws)
        if len(connections) > 1:
            return  # later connections pass straight through
        contents = []

        def relay(message):
            ws.send(message)
            if '"type":"content"' in message:
                contents.append(message)
                if len(contents) == 3:
                    ws.close()  # the page's socket drops mid-reply

        server.on_message(relay)

    page.route_web_socket(re.compile(r"/ws/conversations/"), route)
    start_chat(page, live, "openai/story-20-80", "Survive a drop")
    expect(page.locator(REPLY)).to_have_text(story(20), timeout=15_000)
    assert len(connections) >= 2, "the page never reconnected"
    expect(page.locator(".msg-assistant .msg-meta")).to_contain_text("total")


def test_failed_reply_shows_the_error_and_retries(new_page, live, ui_user, fake_provider, shot):
    page = new_page(user=ui_user)
    start_chat(page, live, "openai/fail-after-2", "This will fail")
    error = page.locator(".msg-assistant .msg-error")
    expect(error).to_be_visible()
    expect(page.locator(".msg-assistant .badge")).to_have_text("Failed")
    expect(page.locator(REPLY)).to_contain_text("w2")
    shot(page, "chat-failed")
    error.get_by_role("button", name="Retry").click()
    # The retry answers in the failed one's place, with a switcher to the first try (issue 14: no stacked card).
    expect(page.locator(".msg-assistant")).to_have_count(1)
    expect(page.locator(".msg-assistant .switcher-count")).to_have_text("2/2")
    expect(page.locator(".msg-assistant .msg-error").last).to_be_visible()
    assert Message.objects.filter(role="assistant").count() == 2


XSS = (
    '<img src=x onerror="window.__pwned=1;alert(1)"> <script>window.__pwned=2;alert(2)</script> '
    "[click me](javascript:window.__pwned=3) "
    '<a href="javascript:alert(4)">raw link</a> <svg onload="alert(5)"></svg> '
    "[ok](https://example.com/safe)"
)


def assert_inert(page):
    state = page.evaluate(
        """() => ({
            pwned: window.__pwned === undefined ? null : window.__pwned,
            jsHrefs: [...document.querySelectorAll('[href]')]
                .filter(a => /^\\s*javascript:/i.test(a.getAttribute('href'))).length,
            handlers: [...document.querySelectorAll('#messages *')]
                .filter(n => [...n.attributes].some(a => /^on/i.test(a.name))).length,
            scripts: document.querySelectorAll('#messages script').length,
            imgs: [...document.querySelectorAll('#messages img')].map(i => i.getAttribute('src')),
        })"""
    )
    assert state == {"pwned": None, "jsHrefs": 0, "handlers": 0, "scripts": 0, "imgs": state["imgs"]}, state
    assert all(src is None or src.startswith("http") for src in state["imgs"]), state


def test_model_and_user_text_cannot_run_script(new_page, live, ui_user, fake_provider, shot):
    page = new_page(user=ui_user)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    start_chat(page, live, "openai/echo", XSS)
    reply = page.locator(REPLY)
    expect(reply).to_contain_text("raw link")
    expect(page.locator(".msg-assistant .msg-meta")).to_contain_text("total")
    # The echoed markup shows as text; the only link left is the https one.
    expect(reply).to_contain_text("<script>")
    expect(reply.locator("a[href]")).to_have_count(1)
    expect(reply.locator("a[href]")).to_have_attribute("href", "https://example.com/safe")
    assert_inert(page)
    shot(page, "chat-xss-inert")
    # The same text rendered from the server page (json_script) after a reload.
    page.reload()
    expect(page.locator(REPLY)).to_contain_text("raw link")
    page.wait_for_timeout(200)
    assert_inert(page)
    assert dialogs == []
    assert page.js_errors == []


NASTY = [
    '<img src=x onerror="window.__pwned=1">',
    "<script>window.__pwned=2</script>",
    "[a](javascript:window.__pwned=3)",
    "[b](  JaVaScRiPt:window.__pwned=4)",
    "[c](data:text/html,<script>parent.__pwned=5</script>)",
    "![d](javascript:window.__pwned=6)",
    '<iframe src="javascript:parent.__pwned=7"></iframe>',
    '<a href="javascript:window.__pwned=8">e</a>',
    '<svg><a xlink:href="javascript:window.__pwned=9"><text>f</text></a></svg>',
    '<form action="javascript:window.__pwned=10"><button>g</button></form>',
    '<details open ontoggle="window.__pwned=11">h</details>',
    "```html\n<script>window.__pwned=12</script>\n```",
    '<math><mtext><table><mglyph><style><img src=x onerror="window.__pwned=13">',
    "[ok](https://example.com/fine) [mail](mailto:someone@example.com)",
]


def test_the_markdown_renderer_keeps_every_payload_inert(new_page, live, ui_user):
    """The one renderer used for answers, reasoning and merge text, fed payloads directly in the page."""
    page = new_page(user=ui_user)
    page.goto(f"{live}/c/{_empty_conversation(ui_user).id}/")
    result = page.evaluate(
        """(payloads) => {
            const box = document.createElement('div');
            box.id = 'render-box';
            document.body.append(box);
            for (const text of payloads) {
                const node = document.createElement('div');
                box.append(node);
                Parley.renderMarkdown(node, text);
            }
            return new Promise(resolve => setTimeout(() => resolve({
                pwned: window.__pwned === undefined ? null : window.__pwned,
                hrefs: [...box.querySelectorAll('*')].flatMap(n => [...n.attributes])
                    .filter(a => /href$/i.test(a.name)).map(a => a.value),
                handlers: [...box.querySelectorAll('*')]
                    .filter(n => [...n.attributes].some(a => /^on/i.test(a.name))).length,
                banned: box.querySelectorAll('script, iframe, form, svg, math, style, object, embed').length,
                codeText: box.querySelector('pre code') && box.querySelector('pre code').textContent,
            }), 300));
        }""",
        NASTY,
    )
    assert result["pwned"] is None
    assert result["handlers"] == 0 and result["banned"] == 0
    assert sorted(result["hrefs"]) == ["https://example.com/fine", "mailto:someone@example.com"]
    assert "<script>window.__pwned=12</script>" in result["codeText"]  # shown as code, as text
    assert page.js_errors == []


def _empty_conversation(user):
    from chats.models import Conversation

    return Conversation.objects.create(owner=user, title="Renderer")
