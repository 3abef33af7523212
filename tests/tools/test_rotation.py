"""MCP headers survive a key rotation; headers under a lost key are listed, never printed."""
import io

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import override_settings

from tools.models import McpServer
from tools.services import connection_for

pytestmark = pytest.mark.django_db
KEY_A, KEY_B, KEY_GONE = (Fernet.generate_key().decode() for _ in range(3))
SECRET = "Bearer rotate-me-0123456789"


def rotate() -> str:
    out = io.StringIO()
    call_command("rotate_mcp_headers", stdout=out)
    return out.getvalue()


def test_rotation_lets_the_old_key_be_dropped(user):
    with override_settings(PARLEY_ENCRYPTION_KEYS=[KEY_A]):
        server = McpServer(owner=None, name="calc", url="https://mcp.example.com/mcp")
        server.set_headers({"Authorization": SECRET})
        server.save()
        McpServer.objects.create(owner=None, name="open", url="https://open.example.com/mcp")
    with override_settings(PARLEY_ENCRYPTION_KEYS=[KEY_GONE]):
        lost = McpServer(owner=None, name="lost", url="https://lost.example.com/mcp")
        lost.set_headers({"Authorization": SECRET})
        lost.save()
    with override_settings(PARLEY_ENCRYPTION_KEYS=[KEY_B, KEY_A]):
        output = rotate()
    assert "Re-encrypted the headers of 1 MCP server(s)" in output
    assert f"MCP server id={lost.pk} lost" in output and SECRET not in output
    with override_settings(PARLEY_ENCRYPTION_KEYS=[KEY_B]):
        assert McpServer.objects.get(pk=server.pk).get_headers() == {"Authorization": SECRET}
        with pytest.raises(ValidationError) as caught:
            connection_for(McpServer.objects.get(pk=lost.pk))
        assert "enter them again" in str(caught.value) and SECRET not in str(caught.value)
