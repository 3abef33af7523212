"""API routes of this app (mounted under /api/v1/)."""
from django.urls import path

from providers.api import keys

urlpatterns = [
    path("keys/", keys.ProviderKeyListView.as_view(), name="api-keys"),
    path("keys/<str:key_id>/", keys.ProviderKeyDetailView.as_view(), name="api-key"),
]
