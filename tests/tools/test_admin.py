"""The Django admin's MCP server pages: headers go in write-only and never come out."""
import json

import pytest
from django.test import Client

from tools.models import McpServer

pytestmark = pytest.mark.django_db
SECRET = "Bearer admin-page-secret-123456"


@pytest.fixture
def admin_client(make_user):
    client = Client()
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    return client


def test_add_a_shared_server_with_headers_and_never_see_them(admin_client):
    answer = admin_client.post("/admin/tools/mcpserver/add/", {
        "name": "team", "url": "http://10.0.0.8/mcp", "transport": "streamable_http", "enabled": "on",
        "headers": json.dumps({"Authorization": SECRET})})
    assert answer.status_code == 302, answer.content.decode()[:2000]
    server = McpServer.objects.get(name="team")
    assert server.owner is None and server.get_headers() == {"Authorization": SECRET}
    for page in ("/admin/tools/mcpserver/", f"/admin/tools/mcpserver/{server.pk}/change/"):
        body = admin_client.get(page)
        assert body.status_code == 200 and SECRET not in body.content.decode()
    # Saving without headers keeps them.
    admin_client.post(f"/admin/tools/mcpserver/{server.pk}/change/", {
        "name": "team", "url": "http://10.0.0.8/mcp", "transport": "sse", "enabled": "on", "headers": ""})
    server.refresh_from_db()
    assert server.transport == "sse" and server.get_headers() == {"Authorization": SECRET}


def test_bad_headers_and_a_users_blocked_url_are_form_errors(admin_client, user):
    bad = admin_client.post("/admin/tools/mcpserver/add/", {
        "name": "x", "url": "https://93.184.215.14/mcp", "transport": "sse", "headers": "not json"})
    assert bad.status_code == 200 and "Enter a JSON object" in bad.content.decode()
    blocked = admin_client.post("/admin/tools/mcpserver/add/", {
        "owner": user.pk, "name": "x", "url": "http://127.0.0.1/mcp", "transport": "sse"})
    assert blocked.status_code == 200 and "private, loopback or link-local" in blocked.content.decode()
    assert not McpServer.objects.exists()
