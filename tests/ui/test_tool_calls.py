"""Tools in the chat page: the per-conversation tools picker, and tool calls in the thread (stored, then live
against the real MCP fixture server and the fake provider), with approve and deny in `ask` mode."""
import json

import pytest
from playwright.sync_api import expect

from chats.models import Conversation, Message
from tests.fixtures import mcp_server as mcp_fixtures
from tools.models import McpServer
from tools.services import mcp_server_refresh

CALC_TOOLS = [
    {"name": "add", "description": "Add two numbers.", "input_schema": {"type": "object"}},
    {"name": "slow", "description": "Answer after `seconds` seconds.", "input_schema": {"type": "object"}},
]
TEAM_TOOLS = [
    {"name": "search", "description": "Search the wiki.", "input_schema": {"type": "object"}},
    {"name": "fetch", "description": "Fetch a page.", "input_schema": {"type": "object"}},
    {"name": "<img src=x onerror=window.pwned=2>", "description": "<img src=x onerror=window.pwned=1>",
     "input_schema": {"type": "object"}},
]
HOSTILE = '<img src=x onerror="window.pwned=1">'


def stored_reply(user):
    conv = Conversation.objects.create(owner=user, title="Sums", default_model="openai/echo")
    Message.objects.create(conversation=conv, role="user", content="What is 2 + 3, and what does the wiki say?")
    before, between, after = "Let me add them.", " Now the wiki.", " So: 5, and the wiki failed."
    Message.objects.create(
        conversation=conv, role="assistant", model="openai/echo", status="complete",
        content=before + between + after,
        metadata={
            "tool_calls": [
                {"id": "call_1", "name": "calc/add", "arguments": '{"a": 2, "b": 3}', "round": 1,
                 "offset": len(before)},
                {"id": "call_2", "name": "team/search", "arguments": HOSTILE, "round": 2,
                 "offset": len(before + between)},
            ],
            "tool_results": [
                {"id": "call_1", "name": "calc/add", "content": '{"sum": 5, "terms": [2, 3]}', "is_error": False},
                {"id": "call_2", "name": "team/search", "content": "The server did not answer in time. " + HOSTILE,
                 "is_error": True},
            ],
        },
    )
    return conv


@pytest.mark.parametrize("width", [1280, 390])
def test_stored_tool_calls_render_in_place_after_a_reload(new_page, live, ui_user, shot, width):
    conv = stored_reply(ui_user)
    page = new_page(user=ui_user, width=width, height=900)
    page.goto(f"{live}/c/{conv.id}/")
    body = page.locator(".msg-assistant .msg-body")
    blocks = body.locator("details.tool-call")
    expect(blocks).to_have_count(2)
    # In order within the reply text: text, call, text, call, text.
    parts = body.evaluate("""b => Array.from(b.children).filter(c => !c.hidden).map(c =>
        c.matches('details') ? 'call:' + c.querySelector('.tool-name').textContent : 'text:' + c.textContent.trim())""")
    assert parts == ["text:Let me add them.", "call:calc/add", "text:Now the wiki.", "call:team/search",
                     "text:So: 5, and the wiki failed."]
    first, second = blocks.nth(0), blocks.nth(1)
    expect(first.locator(".tool-status")).to_have_text("done")
    expect(second.locator(".tool-status")).to_have_text("error")
    expect(second).to_have_class("tool-call tool-error")
    # Collapsed until opened; arguments and result pretty-printed when they are JSON, text otherwise.
    expect(first.locator(".tool-args")).to_be_hidden()
    first.locator("summary").click()
    expect(first.locator(".tool-args")).to_have_text('{\n  "a": 2,\n  "b": 3\n}')
    expect(first.locator(".tool-result")).to_have_text('{\n  "sum": 5,\n  "terms": [\n    2,\n    3\n  ]\n}')
    second.locator("summary").press("Enter")  # keyboard opens it too
    expect(second.locator(".tool-args")).to_have_text(HOSTILE)
    expect(second.locator(".tool-result")).to_contain_text("did not answer in time")
    expect(second.locator(".tool-result")).to_have_class("tool-json tool-result tool-result-error")
    # Tool data is text, never markup.
    assert page.locator(".msg-assistant img").count() == 0
    assert page.evaluate("window.pwned") is None
    shot(page, f"tool-calls-stored-{width}")
    assert page.js_errors == []


def servers(user):
    McpServer.objects.create(owner=user, name="calc", url="http://93.184.215.14/mcp", status="connected",
                             tools=CALC_TOOLS)
    McpServer.objects.create(owner=None, name="team", url="http://93.184.215.15/mcp", status="connected",
                             tools=TEAM_TOOLS)
    McpServer.objects.create(owner=user, name="off", url="http://93.184.215.16/mcp", status="connected",
                             tools=CALC_TOOLS, enabled=False)


def test_the_tools_picker_saves_the_conversation_params(new_page, live, ui_user, shot):
    servers(ui_user)
    conv = Conversation.objects.create(owner=ui_user, title="Tools", default_model="openai/echo",
                                       params={"temperature": 0.5})
    page = new_page(user=ui_user)
    page.goto(f"{live}/c/{conv.id}/")
    button = page.locator("#tools-btn")
    expect(button).to_have_attribute("aria-label", "Tools: none on")
    button.click()
    dialog = page.locator("#tools-dialog")
    expect(dialog.locator("fieldset")).to_have_count(2)  # the disabled server is not offered
    expect(dialog.locator('[data-tools-server="team"] legend')).to_contain_text("shared")
    dialog.get_by_label("add").check()
    dialog.locator('[data-tools-server="team"]').get_by_label("All tools").check()
    expect(dialog.locator('[data-tools-server="team"]').get_by_label("search")).to_be_disabled()
    expect(dialog.locator('[data-tools-server="team"]').get_by_label("search")).to_be_checked()
    # Names and descriptions are shown as text.
    expect(dialog.get_by_text("<img src=x onerror=window.pwned=2>", exact=True)).to_be_visible()
    dialog.get_by_label("When the model calls a tool").select_option(label="Ask me first")
    shot(page, "tools-picker")
    page.click("#tools-save")
    expect(dialog).not_to_be_visible()
    expect(button).to_have_attribute("aria-label", "Tools: 4 on, asks before each call")
    expect(page.locator("#tools-count")).to_have_text("4")
    conv.refresh_from_db()
    assert conv.params == {"temperature": 0.5, "tools": ["calc/add", "team/*"], "tool_approval": "ask"}
    assert page.evaluate("window.pwned") is None

    # After a reload the picker shows what is on; the settings dialog keeps the tools when it saves.
    page.reload()
    expect(page.locator("#tools-count")).to_have_text("4")
    page.click("[data-open-settings]")
    page.fill("#set-max-tokens", "300")
    page.click("#settings-save")
    expect(page.locator("#settings-dialog")).not_to_be_visible()
    conv.refresh_from_db()
    assert conv.params["tools"] == ["calc/add", "team/*"] and conv.params["max_tokens"] == 300
    button.click()
    expect(dialog.get_by_label("add")).to_be_checked()
    expect(dialog.get_by_label("slow")).not_to_be_checked()
    expect(dialog.get_by_label("When the model calls a tool")).to_have_value("ask")
    dialog.get_by_label("add").uncheck()
    dialog.locator('[data-tools-server="team"]').get_by_label("All tools").uncheck()
    dialog.get_by_label("When the model calls a tool").select_option("auto")
    page.click("#tools-save")
    expect(button).to_have_attribute("aria-label", "Tools: none on")
    conv.refresh_from_db()
    assert conv.params == {"temperature": 0.5, "max_tokens": 300}
    assert page.js_errors == []


def test_a_new_chat_sends_its_tools_on_create(new_page, live, ui_user, fake_provider, shot):
    servers(ui_user)
    page = new_page(user=ui_user, width=390, height=844)
    page.goto(f"{live}/")
    page.click("#model-chip")
    page.fill("#picker-q", "openai/echo")
    page.press("#picker-q", "Enter")
    page.click("#tools-btn")
    dialog = page.locator("#tools-dialog")
    dialog.get_by_label("slow").check()
    shot(page, "tools-picker-phone")
    # Keyboard: Tab reaches Save, Enter saves.
    page.focus("#tools-save")
    page.keyboard.press("Enter")
    expect(page.locator("#tools-count")).to_have_text("1")
    page.fill("#composer-input", "hello")
    page.press("#composer-input", "Enter")
    expect(page.locator(".msg-assistant .msg-body")).to_contain_text("hello")
    conv = Conversation.objects.get(owner=ui_user)
    assert conv.params == {"tools": ["calc/slow"]}
    assert json.dumps(conv.params)


# ---------- live: a real tool round (fake provider + the real MCP fixture server), approve and deny ----------

mcp_server = mcp_fixtures.mcp_server  # the real MCP fixture server, as tests/tools uses it


@pytest.fixture
def calc(mcp_server):
    """The calculator fixture as a shared server (an admin's may sit on loopback), checked once."""
    from concurrent.futures import ThreadPoolExecutor

    server = McpServer.objects.create(owner=None, name="calc", url=mcp_server.base + "/mcp")
    # The check runs its own event loop: not in this thread, where Playwright's runs.
    with ThreadPoolExecutor(1) as pool:
        server = pool.submit(mcp_server_refresh, server=server).result()
    assert server.status == "connected", server.error
    return server


def tool_chat(user, *, approval=None):
    params = {"tools": ["calc/add"]}
    if approval:
        params["tool_approval"] = approval
    return Conversation.objects.create(owner=user, title="Live tools", default_model="openai/tool-call",
                                       params=params)


def send(page, text):
    page.fill("#composer-input", text)
    page.press("#composer-input", "Enter")


def test_a_live_tool_round_shows_the_call_in_place_and_again_after_a_reload(new_page, live, ui_user, fake_provider,
                                                                           calc, shot):
    conv = tool_chat(ui_user)
    page = new_page(user=ui_user)
    page.goto(f"{live}/c/{conv.id}/")
    expect(page.locator("#tools-count")).to_have_text("1")
    send(page, '{"a": 2, "b": 3}')
    reply = page.locator(".msg-assistant").last
    expect(reply.locator(".msg-body")).to_contain_text("Tool results: 5.0", timeout=15_000)
    block = reply.locator("details.tool-call")
    expect(block.locator(".tool-status")).to_have_text("done")
    expect(block.locator(".tool-name")).to_have_text("calc/add")
    order = ("b => Array.from(b.children).filter(c => !c.hidden)"
             ".map(c => c.matches('details') ? 'call' : c.textContent.trim())")
    assert reply.locator(".msg-body").evaluate(order) == ["Checking.", "call", "Tool results: 5.0"]
    block.locator("summary").click()
    expect(block.locator(".tool-args")).to_have_text('{\n  "a": 2,\n  "b": 3\n}')
    expect(block.locator(".tool-result")).to_have_text("5.0")
    shot(page, "tool-call-live")
    expect(page.locator("#send-btn")).to_be_visible()
    stored = Message.objects.filter(conversation=conv, role="assistant").get()
    assert stored.metadata["tool_results"][0]["content"] == "5.0"

    page.reload()
    reply = page.locator(".msg-assistant").last
    expect(reply.locator("details.tool-call .tool-status")).to_have_text("done")
    assert reply.locator(".msg-body").evaluate(order) == ["Checking.", "call", "Tool results: 5.0"]
    assert page.js_errors == []


def test_ask_mode_approve_then_deny(new_page, live, ui_user, fake_provider, calc, shot):
    conv = tool_chat(ui_user, approval="ask")
    page = new_page(user=ui_user, width=390, height=844)
    page.goto(f"{live}/c/{conv.id}/")
    send(page, '{"a": 20, "b": 22}')
    block = page.locator(".msg-assistant").last.locator("details.tool-call")
    expect(block.locator(".tool-status")).to_have_text("waiting for approval", timeout=15_000)
    approval = block.get_by_role("group", name="Run the tool calc/add?")
    expect(approval).to_be_visible()  # the block opens by itself to ask
    expect(block.locator(".tool-args")).to_have_text('{\n  "a": 20,\n  "b": 22\n}')
    shot(page, "tool-approval-phone")
    approval.get_by_role("button", name="Approve").click()
    expect(block.get_by_role("button", name="Approve")).to_have_count(0)
    expect(block.locator(".tool-note")).to_have_text("You approved this call.")
    expect(page.locator(".msg-assistant").last.locator(".msg-body")).to_contain_text("Tool results: 42.0")
    expect(block.locator(".tool-status")).to_have_text("done")
    expect(page.locator("#send-btn")).to_be_visible()

    send(page, '{"a": 1, "b": 1}')
    block = page.locator(".msg-assistant").last.locator("details.tool-call")
    expect(block.locator(".tool-status")).to_have_text("waiting for approval", timeout=15_000)
    block.get_by_role("button", name="Deny").click()
    expect(block.get_by_role("button", name="Deny")).to_have_count(0)
    expect(block.locator(".tool-note")).to_have_text("You denied this call.")
    expect(block.locator(".tool-status")).to_have_text("denied")
    expect(block.locator(".tool-result")).to_have_text("The user refused this tool call.")
    expect(page.locator(".msg-assistant").last.locator(".msg-body")).to_contain_text("refused")
    expect(page.locator("#send-btn")).to_be_visible()
    # Redrawn from the stored thread once the reply is over, the answer given here still shows.
    expect(block.locator(".tool-status")).to_have_text("denied")
    expect(block.locator(".tool-note")).to_have_text("You denied this call.")
    shot(page, "tool-denied-phone")
    replies = list(Message.objects.filter(conversation=conv, role="assistant").order_by("created_at"))
    assert [r.metadata["tool_results"][0]["is_error"] for r in replies] == [False, True]
    assert page.js_errors == []


def test_the_compare_page_shows_each_models_tool_calls(new_page, live, ui_user, fake_provider):
    from tests.ui.test_compare_merge import column, pick_models

    page = new_page(user=ui_user, width=1280)
    page.goto(f"{live}/compare/")
    pick_models(page, "#add-models", ["openai/tools", "openai/echo"])
    page.fill("#compare-prompt", "Weather in Paris?")
    page.press("#compare-prompt", "Enter")
    tools = column(page, "openai/tools")
    expect(tools.locator(".column-head .badge")).to_have_text("done", timeout=15_000)
    block = tools.locator("details.tool-call")
    expect(block.locator(".tool-name")).to_have_text("get_weather")
    block.locator("summary").click()
    expect(block.locator(".tool-args")).to_contain_text('"Paris"')
    expect(tools.locator(".answer")).to_contain_text("Let me check.")
    expect(column(page, "openai/echo").locator("details.tool-call")).to_have_count(0)
    assert page.js_errors == []
