"""API routes of this app (mounted under /api/v1/)."""
from django.urls import path

from core.api.views import HealthView

urlpatterns = [
    path("health/", HealthView.as_view(), name="api-health"),
]
