"""Reads of MCP servers: a user sees their own and the shared ones; anyone else's is not there (404)."""
from django.db.models import Q, QuerySet

from tools.models import McpServer


def mcp_server_list(*, user) -> QuerySet[McpServer]:
    return McpServer.objects.filter(Q(owner=user) | Q(owner__isnull=True)).order_by("name", "owner_id")


def mcp_server_get(*, user, server_id) -> McpServer | None:
    try:
        server_id = int(server_id)
    except (TypeError, ValueError):
        return None
    return mcp_server_list(user=user).filter(pk=server_id).first()
