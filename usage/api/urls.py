"""API routes of the usage app (mounted under /api/v1/)."""
from django.urls import path

from usage.api import views

urlpatterns = [
    path("usage/", views.UsageView.as_view(), name="api-usage"),
    path("admin/users/", views.AdminUserListView.as_view(), name="api-admin-users"),
    path("admin/users/<str:user_id>/", views.AdminUserDetailView.as_view(), name="api-admin-user"),
]
