"""MCP servers over REST (SPEC §7) against the real fixture server: status, tools, ownership, secrets, SSRF."""
import json

import pytest

from tests.conftest import token_client
from tools.models import McpServer
from tools.services import mcp_servers_refresh_all

SECRET = "Bearer s3cret-mcp-token-value-0123456789"


@pytest.fixture
def admin(make_user):
    return make_user("root", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_api(admin):
    return token_client(admin)


def create(client, **body):
    return client.post("/api/v1/mcp/servers/", body, format="json")


def test_add_refresh_and_list_a_server(admin_api, mcp_server):
    answer = create(admin_api, name="calc", url=mcp_server.base + "/mcp", headers={"Authorization": SECRET})
    assert answer.status_code == 201, answer.content
    server = answer.json()
    assert server["status"] == "unknown" and server["tools"] == [] and server["last_checked_at"] is None
    assert server["transport"] == "streamable_http" and server["enabled"] is True and server["shared"] is False
    refreshed = admin_api.post(f"/api/v1/mcp/servers/{server['id']}/refresh/")
    assert refreshed.status_code == 200
    body = refreshed.json()
    assert body["status"] == "connected" and body["error"] == "" and body["last_checked_at"]
    assert [t["name"] for t in body["tools"]] == ["add", "slow", "fail", "image", "big"]
    assert body["tools"][0] == {"name": "add", "description": "Add two numbers.",
                                "input_schema": body["tools"][0]["input_schema"]}
    assert body["tools"][0]["input_schema"]["required"] == ["a", "b"]
    listed = admin_api.get("/api/v1/mcp/servers/").json()
    assert [s["name"] for s in listed] == ["calc"] and listed[0]["status"] == "connected"


def test_an_sse_server(admin_api, mcp_server):
    server = create(admin_api, name="calc-sse", url=mcp_server.base + "/sse-root/sse", transport="sse").json()
    body = admin_api.post(f"/api/v1/mcp/servers/{server['id']}/refresh/").json()
    assert body["status"] == "connected" and len(body["tools"]) == 5


def test_headers_are_encrypted_and_never_returned(admin_api, mcp_server):
    answer = create(admin_api, name="calc", url=mcp_server.base + "/mcp", headers={"Authorization": SECRET})
    server_id = answer.json()["id"]
    pages = [answer, admin_api.get("/api/v1/mcp/servers/"), admin_api.get(f"/api/v1/mcp/servers/{server_id}/"),
             admin_api.post(f"/api/v1/mcp/servers/{server_id}/refresh/"),
             admin_api.patch(f"/api/v1/mcp/servers/{server_id}/", {"enabled": False}, format="json")]
    for page in pages:
        assert page.status_code in (200, 201)
        assert "s3cret" not in page.content.decode()
        body = page.json()
        assert "headers" not in (body if isinstance(body, dict) else body[0])
    stored = McpServer.objects.get(pk=server_id)
    assert "s3cret" not in stored.encrypted_headers
    assert stored.get_headers() == {"Authorization": SECRET}


def test_the_headers_reach_the_server(admin_api, mcp_server):
    from tests.fixtures.mcp_server import TOKEN

    server = create(admin_api, name="private", url=mcp_server.base + "/private/mcp").json()
    refused = admin_api.post(f"/api/v1/mcp/servers/{server['id']}/refresh/").json()
    assert refused["status"] == "error" and "401" in refused["error"]
    admin_api.patch(f"/api/v1/mcp/servers/{server['id']}/", {"headers": {"Authorization": TOKEN}}, format="json")
    admitted = admin_api.post(f"/api/v1/mcp/servers/{server['id']}/refresh/").json()
    assert admitted["status"] == "connected" and len(admitted["tools"]) == 5


@pytest.mark.parametrize("path,message", [
    ("dead", "could not be reached"),
    ("not_mcp", "did not answer as an MCP server"),
])
def test_a_bad_server_is_an_error_status_not_a_failure(admin_api, dead_url, not_mcp_server, path, message):
    url = dead_url if path == "dead" else not_mcp_server.base + "/mcp"
    server = create(admin_api, name="bad", url=url).json()
    answer = admin_api.post(f"/api/v1/mcp/servers/{server['id']}/refresh/")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "error" and message in body["error"] and body["tools"] == []


def test_500_tools_and_a_name_that_collides_with_another_servers(admin_api, mcp_server, many_tools_server):
    calc = create(admin_api, name="calc", url=mcp_server.base + "/mcp").json()
    many = create(admin_api, name="many", url=many_tools_server.base + "/mcp").json()
    calc = admin_api.post(f"/api/v1/mcp/servers/{calc['id']}/refresh/").json()
    many = admin_api.post(f"/api/v1/mcp/servers/{many['id']}/refresh/").json()
    assert many["status"] == "connected" and len(many["tools"]) == 501
    # Both list `add`; each is its own server's (offered as calc/add and many/add).
    calc_add = next(t for t in calc["tools"] if t["name"] == "add")
    many_add = next(t for t in many["tools"] if t["name"] == "add")
    assert calc_add["description"] == "Add two numbers." and many_add["description"] == "Multiplies, despite its name."


def test_the_periodic_check_refreshes_every_enabled_server(admin_api, mcp_server, dead_url):
    create(admin_api, name="good", url=mcp_server.base + "/mcp")
    create(admin_api, name="bad", url=dead_url)
    off = create(admin_api, name="off", url=mcp_server.base + "/mcp").json()
    admin_api.patch(f"/api/v1/mcp/servers/{off['id']}/", {"enabled": False}, format="json")
    assert mcp_servers_refresh_all() == {"connected": 1, "error": 1}
    statuses = {s["name"]: s["status"] for s in admin_api.get("/api/v1/mcp/servers/").json()}
    assert statuses == {"good": "connected", "bad": "error", "off": "unknown"}


def test_a_users_server_on_a_blocked_address_is_refused(api):
    for url in ("http://127.0.0.1:8000/mcp", "http://localhost/mcp", "http://169.254.169.254/latest",
                "http://10.0.0.5/mcp", "http://[::1]/mcp", "http://192.168.1.2/mcp"):
        answer = create(api, name="mine", url=url)
        assert answer.status_code == 400, url
        assert answer.json()["code"] == "blocked_endpoint"
    assert not McpServer.objects.exists()


def test_the_guard_runs_again_when_connecting(user, api, mcp_server):
    """A name that resolved publicly when saved and privately now is refused at the check, not connected to."""
    server = McpServer.objects.create(owner=user, name="rebound", url=mcp_server.base + "/mcp")
    body = api.post(f"/api/v1/mcp/servers/{server.pk}/refresh/").json()
    assert body["status"] == "error" and "private, loopback or link-local" in body["error"]
    from tools.services import mcp_tool_call

    result = mcp_tool_call(server=server, name="add", arguments={"a": 1, "b": 2})
    assert result.is_error and "private, loopback or link-local" in result.content


def test_a_stored_servers_tool_call(admin, admin_api, mcp_server, settings):
    from tools.services import mcp_tool_call

    settings.PARLEY_TOOL_RESULT_MAX_CHARS = 100
    server = McpServer.objects.get(pk=create(admin_api, name="calc", url=mcp_server.base + "/mcp").json()["id"])
    assert mcp_tool_call(server=server, name="add", arguments={"a": 1, "b": 2}).content == "3.0"
    big = mcp_tool_call(server=server, name="big", arguments={"chars": 10_000_000})
    assert big.content.startswith("x" * 100) and "truncated" in big.content and len(big.content) < 200


def test_another_users_server_is_404(admin_api, api, other_api, user, mcp_server):
    mine = create(api, name="mine", url="http://93.184.215.14/mcp")
    assert mine.status_code == 201, mine.content
    server_id = mine.json()["id"]
    assert other_api.get("/api/v1/mcp/servers/").json() == []
    for method, path in (("get", ""), ("patch", ""), ("delete", ""), ("post", "refresh/")):
        answer = getattr(other_api, method)(f"/api/v1/mcp/servers/{server_id}/{path}", {}, format="json")
        assert answer.status_code == 404, (method, path)
        assert answer.json()["code"] == "not_found"
    assert other_api.get("/api/v1/mcp/servers/nonsense/").status_code == 404
    assert McpServer.objects.filter(pk=server_id).exists()


def test_shared_servers_are_admins_and_everyones(admin_api, api, mcp_server):
    refused = create(api, name="team", url="http://93.184.215.14/mcp", shared=True)
    assert refused.status_code == 403
    shared = create(admin_api, name="team", url=mcp_server.base + "/mcp", shared=True)
    assert shared.status_code == 201 and shared.json()["shared"] is True
    server_id = shared.json()["id"]
    assert [s["name"] for s in api.get("/api/v1/mcp/servers/").json()] == ["team"]
    assert api.get(f"/api/v1/mcp/servers/{server_id}/").status_code == 200
    assert api.patch(f"/api/v1/mcp/servers/{server_id}/", {"enabled": False}, format="json").status_code == 403
    assert api.delete(f"/api/v1/mcp/servers/{server_id}/").status_code == 403
    assert admin_api.delete(f"/api/v1/mcp/servers/{server_id}/").status_code == 204


def test_bad_bodies_are_clear_400s(api, admin_api):
    cases = [
        ({"name": "Bad Name", "url": "http://93.184.215.14/mcp"}, "name"),
        ({"name": "x" * 33, "url": "http://93.184.215.14/mcp"}, "name"),
        ({"name": "ok", "url": "ftp://example.com/mcp"}, "url"),
        ({"name": "ok", "url": "http://user:pw@93.184.215.14/mcp"}, "url"),
        ({"name": "ok", "url": "http://93.184.215.14/mcp", "transport": "carrier-pigeon"}, "transport"),
        ({"name": "ok", "url": "http://93.184.215.14/mcp", "headers": {"Bad Header": "x"}}, "headers"),
        ({"name": "ok", "url": "http://93.184.215.14/mcp", "headers": {"X-A": "line\r\nInjected: 1"}}, "headers"),
        ({"name": "ok", "url": "http://93.184.215.14/mcp", "headers": ["not", "an", "object"]}, "headers"),
        ({"name": "ok", "url": "http://93.184.215.14/mcp", "evil": 1}, "evil"),
        ({"url": "http://93.184.215.14/mcp"}, "name"),
    ]
    for body, field in cases:
        answer = create(api, **body)
        assert answer.status_code == 400, (body, answer.content)
        assert field in answer.json()["errors"], (body, answer.json())
    assert create(api, name="dup", url="http://93.184.215.14/mcp").status_code == 201
    duplicate = create(api, name="dup", url="http://93.184.215.14/other")
    assert duplicate.status_code == 400 and duplicate.json()["code"] == "name_taken"
    raw = api.post("/api/v1/mcp/servers/", "{not json", content_type="application/json")
    assert raw.status_code == 400


def test_patch_changes_and_resets_the_check(admin_api, mcp_server):
    server = create(admin_api, name="calc", url=mcp_server.base + "/mcp").json()
    assert admin_api.post(f"/api/v1/mcp/servers/{server['id']}/refresh/").json()["status"] == "connected"
    renamed = admin_api.patch(f"/api/v1/mcp/servers/{server['id']}/", {"name": "calc2"}, format="json").json()
    assert renamed["name"] == "calc2" and renamed["status"] == "connected"
    moved = admin_api.patch(f"/api/v1/mcp/servers/{server['id']}/", {"url": mcp_server.base + "/elsewhere"},
                            format="json").json()
    assert moved["status"] == "unknown" and moved["tools"] == []
    assert admin_api.patch(f"/api/v1/mcp/servers/{server['id']}/", {"bogus": 1}, format="json").status_code == 400


def test_the_schema_documents_the_endpoints(api):
    paths = json.loads(api.get("/api/schema/?format=json").content)["paths"]
    assert {"/api/v1/mcp/servers/", "/api/v1/mcp/servers/{server_id}/",
            "/api/v1/mcp/servers/{server_id}/refresh/"} <= set(paths)
    assert set(paths["/api/v1/mcp/servers/{server_id}/"]) == {"get", "patch", "delete"}


@pytest.mark.parametrize("method", ["get", "post", "patch", "delete"])
@pytest.mark.parametrize("path", ["/api/v1/mcp/servers/", "/api/v1/mcp/servers/1/", "/api/v1/mcp/servers/1/refresh/"])
def test_the_endpoints_need_a_signed_in_caller(db, method, path):
    from django.test import Client

    response = getattr(Client(enforce_csrf_checks=True), method)(path)
    assert response.status_code == 401
    assert set(response.json()) == {"detail", "code"}
