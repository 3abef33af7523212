"""API routes of tools (mounted under /api/v1/); a malformed id is a JSON 404."""
from django.urls import path

from tools.api import views

urlpatterns = [
    path("mcp/servers/", views.McpServerListView.as_view(), name="api-mcp-servers"),
    path("mcp/servers/<str:server_id>/", views.McpServerDetailView.as_view(), name="api-mcp-server"),
    path("mcp/servers/<str:server_id>/refresh/", views.McpServerRefreshView.as_view(), name="api-mcp-server-refresh"),
]
