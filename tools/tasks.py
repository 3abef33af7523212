"""Celery tasks of tools: the periodic check of every enabled MCP server (beat entry `refresh-mcp-servers`)."""
from celery import shared_task


@shared_task(name="tools.tasks.refresh_mcp_servers", ignore_result=True)
def refresh_mcp_servers() -> dict[str, int]:
    from tools.services import mcp_servers_refresh_all

    return mcp_servers_refresh_all()
