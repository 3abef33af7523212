"""stdio MCP servers (SPEC §7): only an admin adds one, only with PARLEY_MCP_ALLOW_STDIO=1; a user never sees the
command; listing and calling run a real SDK server script (tests/tools/stdio_server.py) with the project's python."""
import json
import shlex
import sys
from pathlib import Path

import pytest
from django.test import Client

from tests.conftest import token_client
from tools import client
from tools.models import McpServer
from tools.services import STDIO_DISABLED, mcp_server_refresh, mcp_tool_call

SCRIPT = Path(__file__).with_name("stdio_server.py")
COMMAND = shlex.join([sys.executable, str(SCRIPT)])
ENV_SECRET = "stdio-env-secret-value-0042"


@pytest.fixture
def admin(make_user):
    return make_user("root", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_api(admin):
    return token_client(admin)


@pytest.fixture
def user_api(user):
    return token_client(user)


@pytest.fixture
def stdio_on(settings):
    settings.PARLEY_MCP_ALLOW_STDIO = True
    return settings


def create(api, **body):
    return api.post("/api/v1/mcp/servers/", {"transport": "stdio", **body}, format="json")


@pytest.mark.django_db
def test_stdio_is_off_by_default_even_for_an_admin(admin_api, settings):
    assert settings.PARLEY_MCP_ALLOW_STDIO is False
    answer = create(admin_api, name="local", command=COMMAND)
    assert answer.status_code == 403
    assert answer.json()["code"] == "stdio_not_allowed"
    assert "disabled on this deployment" in answer.json()["detail"]
    assert not McpServer.objects.exists()


@pytest.mark.django_db
def test_a_user_may_not_add_one_even_when_allowed(user_api, stdio_on):
    answer = create(user_api, name="local", command=COMMAND)
    assert answer.status_code == 403 and answer.json()["code"] == "stdio_not_allowed"
    assert "Only admins" in answer.json()["detail"]
    # Nor turn their own server into one.
    mine = user_api.post("/api/v1/mcp/servers/", {"name": "web", "url": "http://93.184.215.14/mcp"}, format="json")
    patched = user_api.patch(f"/api/v1/mcp/servers/{mine.json()['id']}/",
                             {"transport": "stdio", "command": COMMAND}, format="json")
    assert patched.status_code == 403 and patched.json()["code"] == "stdio_not_allowed"
    assert McpServer.objects.get().transport == "streamable_http"


@pytest.mark.django_db
def test_an_admin_adds_a_shared_one_and_it_lists_and_calls_tools(admin_api, user_api, stdio_on, monkeypatch):
    monkeypatch.setenv("PARLEY_PROBE_SECRET", "the-parent-environment")
    answer = create(admin_api, name="local", command=COMMAND, env={"FIXTURE_TOKEN": ENV_SECRET}, shared=True)
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["transport"] == "stdio" and body["url"] == "" and body["command"] == COMMAND
    assert ENV_SECRET not in answer.content.decode()
    refreshed = admin_api.post(f"/api/v1/mcp/servers/{body['id']}/refresh/").json()
    assert refreshed["status"] == "connected", refreshed
    assert [t["name"] for t in refreshed["tools"]] == ["add", "slow", "fail", "image", "big", "env"]

    server = McpServer.objects.get()
    assert server.get_env() == {"FIXTURE_TOKEN": ENV_SECRET} and ENV_SECRET not in server.encrypted_env
    assert mcp_tool_call(server=server, name="add", arguments={"a": 2, "b": 3}).content == "5.0"
    # The command gets its own env, and none of Parley's.
    assert mcp_tool_call(server=server, name="env", arguments={"name": "FIXTURE_TOKEN"}).content == ENV_SECRET
    assert mcp_tool_call(server=server, name="env", arguments={"name": "PARLEY_PROBE_SECRET"}).content == "(unset)"
    failed = mcp_tool_call(server=server, name="fail")
    assert failed.is_error and failed.content == "Error executing tool fail"

    # A user sees the shared server and its tools, never its command or env, and cannot change it.
    for page in (user_api.get("/api/v1/mcp/servers/"), user_api.get(f"/api/v1/mcp/servers/{body['id']}/")):
        assert page.status_code == 200
        assert str(SCRIPT) not in page.content.decode() and ENV_SECRET not in page.content.decode()
    listed = user_api.get("/api/v1/mcp/servers/").json()
    assert listed[0]["command"] is None and listed[0]["status"] == "connected" and len(listed[0]["tools"]) == 6
    assert user_api.patch(f"/api/v1/mcp/servers/{body['id']}/", {"enabled": False},
                          format="json").status_code == 403


@pytest.mark.django_db
def test_existing_stdio_servers_are_not_started_once_the_flag_is_off(admin_api, stdio_on):
    server_id = create(admin_api, name="local", command=COMMAND).json()["id"]
    stdio_on.PARLEY_MCP_ALLOW_STDIO = False
    body = admin_api.post(f"/api/v1/mcp/servers/{server_id}/refresh/").json()
    assert body["status"] == "error" and body["error"] == STDIO_DISABLED
    result = mcp_tool_call(server=McpServer.objects.get(), name="add", arguments={"a": 1, "b": 1})
    assert result.is_error and result.content == STDIO_DISABLED
    # Enabling or disabling it still works; changing its command does not.
    assert admin_api.patch(f"/api/v1/mcp/servers/{server_id}/", {"enabled": False}, format="json").status_code == 200
    changed = admin_api.patch(f"/api/v1/mcp/servers/{server_id}/", {"command": "true"}, format="json")
    assert changed.status_code == 403 and changed.json()["code"] == "stdio_not_allowed"


@pytest.mark.django_db
def test_bad_stdio_bodies_are_clear_400s(admin_api, stdio_on):
    cases = [
        ({"name": "a"}, "command"),
        ({"name": "a", "command": "   "}, "command"),
        ({"name": "a", "command": "python 'unbalanced"}, "command"),
        ({"name": "a", "command": COMMAND, "env": {"BAD NAME": "x"}}, "env"),
        ({"name": "a", "command": COMMAND, "env": ["not", "an", "object"]}, "env"),
        ({"name": "a", "command": COMMAND, "url": "http://93.184.215.14/mcp"}, "url"),
        ({"name": "a", "command": COMMAND, "headers": {"Authorization": "x"}}, "headers"),
        ({"name": "a", "transport": "streamable_http", "url": "http://93.184.215.14/mcp", "command": "x"}, "command"),
        ({"name": "a", "transport": "sse", "url": "http://93.184.215.14/mcp", "env": {"A": "b"}}, "env"),
    ]
    for body, field in cases:
        answer = create(admin_api, **body)
        assert answer.status_code == 400, (body, answer.content)
        assert field in answer.json()["errors"], (body, answer.json())
    missing_url = admin_api.post("/api/v1/mcp/servers/", {"name": "web"}, format="json")
    assert missing_url.status_code == 400 and "url" in missing_url.json()["errors"]


@pytest.mark.django_db
def test_switching_between_stdio_and_http(admin_api, stdio_on, mcp_server):
    server = create(admin_api, name="local", command=COMMAND).json()
    refused = admin_api.patch(f"/api/v1/mcp/servers/{server['id']}/", {"transport": "streamable_http"}, format="json")
    assert refused.status_code == 400 and "url" in refused.json()["errors"]
    moved = admin_api.patch(f"/api/v1/mcp/servers/{server['id']}/",
                            {"transport": "streamable_http", "url": mcp_server.base + "/mcp"}, format="json").json()
    assert moved["transport"] == "streamable_http" and moved["command"] is None and moved["status"] == "unknown"
    assert McpServer.objects.get().command == ""
    back = admin_api.patch(f"/api/v1/mcp/servers/{server['id']}/", {"transport": "stdio", "command": COMMAND},
                           format="json").json()
    assert back["transport"] == "stdio" and back["url"] == "" and back["command"] == COMMAND


@pytest.mark.asyncio
async def test_a_slow_stdio_tool_ends_in_a_timeout_error_result():
    argv = [sys.executable, str(SCRIPT)]
    result = await client.call_tool(transport="stdio", command=argv, name="slow", arguments={"seconds": 30},
                                    deadline=3)
    assert result.is_error and result.content == "The server did not answer in time."


@pytest.mark.asyncio
async def test_a_command_that_is_missing_or_not_mcp_is_an_error():
    with pytest.raises(client.McpError, match="could not be started"):
        await client.list_tools(transport="stdio", command=["/nonexistent/mcp-server"], deadline=5)
    with pytest.raises(client.McpError):
        await client.list_tools(transport="stdio", command=[sys.executable, str(SCRIPT), "--not-mcp"], deadline=5)
    result = await client.call_tool(transport="stdio", command=["/nonexistent/mcp-server"], name="add", deadline=5)
    assert result.is_error and result.content == "The server's command could not be started."


@pytest.fixture
def admin_client(admin):
    web = Client()
    web.force_login(admin)
    return web


@pytest.mark.django_db
def test_the_admin_adds_a_stdio_server_only_when_allowed(admin_client, settings):
    form = {"name": "local", "transport": "stdio", "command": COMMAND, "enabled": "on",
            "env": json.dumps({"FIXTURE_TOKEN": ENV_SECRET})}
    refused = admin_client.post("/admin/tools/mcpserver/add/", form)
    assert refused.status_code == 200 and "disabled on this deployment" in refused.content.decode()
    assert not McpServer.objects.exists()
    settings.PARLEY_MCP_ALLOW_STDIO = True
    saved = admin_client.post("/admin/tools/mcpserver/add/", form)
    assert saved.status_code == 302, saved.content.decode()[:2000]
    server = McpServer.objects.get()
    assert server.transport == "stdio" and server.url == "" and server.get_env() == {"FIXTURE_TOKEN": ENV_SECRET}
    page = admin_client.get(f"/admin/tools/mcpserver/{server.pk}/change/").content.decode()
    assert ENV_SECRET not in page
    assert mcp_server_refresh(server=server).status == "connected"


@pytest.mark.django_db(transaction=True)
async def test_a_reply_calls_a_stdio_tool_through_the_loop(live_asgi, fake_provider, stdio_on, django_user_model):
    from asgiref.sync import sync_to_async

    from accounts.services import api_token_create
    from chats.services import conversation_create
    from tests.chats.streaming_client import text_of
    from tests.tools.loop_client import client_for, complete, of_type

    user = await sync_to_async(django_user_model.objects.create_user)("alice", password="correct horse battery")
    _, user.raw_token = await sync_to_async(api_token_create)(user=user, name="stdio")
    server = await McpServer.objects.acreate(owner=None, name="local", transport="stdio", command=COMMAND)
    assert (await sync_to_async(mcp_server_refresh)(server=server)).status == "connected"
    conversation = await sync_to_async(conversation_create)(owner=user, default_model="anthropic/tool-call",
                                                            params={"tools": ["local/add"]})
    async with client_for(live_asgi, user) as web:
        events = await complete(web, conversation, '{"a": 40, "b": 2}')
    [call], [result] = of_type(events, "tool_call"), of_type(events, "tool_result")
    assert call["name"] == "local/add"
    assert result == {**result, "content": "42.0", "is_error": False}
    assert text_of(events) == "Checking. Tool results: 42.0"
