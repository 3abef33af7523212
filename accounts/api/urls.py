"""API routes of this app (mounted under /api/v1/)."""
from django.urls import path

from accounts.api import views

urlpatterns = [
    path("tokens/", views.ApiTokenListView.as_view(), name="api-tokens"),
    path("tokens/<str:token_id>/", views.ApiTokenDetailView.as_view(), name="api-token"),
]
