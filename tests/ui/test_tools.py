"""The tools page in a real browser, against the real MCP fixture server: add, see status and tools, disable."""
import pytest
from playwright.sync_api import expect

from tests.fixtures import mcp_server as mcp_fixtures
from tests.ui.conftest import SCREENSHOTS

mcp_server = mcp_fixtures.mcp_server  # the real MCP fixture server, as tests/tools uses it


@pytest.fixture
def ui_admin(transactional_db, django_user_model):
    return django_user_model.objects.create_user(username="grace", password="correct horse battery staple",
                                                 is_staff=True)


@pytest.mark.parametrize("width", [1280, 390])
def test_add_a_server_and_see_its_tools(new_page, live, ui_admin, mcp_server, width):
    page = new_page(user=ui_admin, width=width, height=1000 if width > 500 else 1300)
    page.goto(f"{live}/tools/")
    expect(page.locator("#tool-servers")).to_contain_text("No MCP servers yet")
    page.fill("#id_name", "calc")
    page.fill("#id_url", mcp_server.base + "/mcp")
    page.fill("#id_header_name", "Authorization")
    page.fill("#id_header_value", "Bearer do-not-show-me")
    page.click("#add-server button[type=submit]")
    server = page.locator('[data-server="calc"]')
    expect(server).to_contain_text("connected")
    expect(server.locator("summary")).to_have_text("5 tools")
    server.locator("summary").click()
    expect(server.locator("li").first).to_contain_text("calc/add")
    expect(server.locator("li").first).to_contain_text("Add two numbers.")
    assert "do-not-show-me" not in page.content()
    page.screenshot(path=str(SCREENSHOTS / f"tools-{width}.png"), full_page=True)
    server.get_by_role("button", name="Disable").click()
    expect(page.locator('[data-server="calc"]')).to_contain_text("disabled")
    assert page.js_errors == []


def test_a_user_cannot_add_a_server_on_a_private_address(new_page, live, ui_user):
    page = new_page(user=ui_user)
    page.goto(f"{live}/tools/")
    expect(page.locator("#id_shared")).to_have_count(0)
    page.fill("#id_name", "mine")
    page.fill("#id_url", "http://127.0.0.1:9/mcp")
    page.click("#add-server button[type=submit]")
    expect(page.locator("#add-server")).to_contain_text("private, loopback or link-local")
    expect(page.locator("#tool-servers")).to_contain_text("No MCP servers yet")


def test_a_down_server_shows_its_error(new_page, live, ui_admin):
    page = new_page(user=ui_admin)
    page.goto(f"{live}/tools/")
    page.fill("#id_name", "down")
    page.fill("#id_url", "http://127.0.0.1:9/mcp")
    page.click("#add-server button[type=submit]")
    server = page.locator('[data-server="down"]')
    expect(server).to_contain_text("error")
    expect(server).to_contain_text("The server could not be reached.")
