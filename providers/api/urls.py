"""API routes of this app (mounted under /api/v1/)."""
from django.urls import path

from providers.api import keys, views

urlpatterns = [
    path("keys/", keys.ProviderKeyListView.as_view(), name="api-keys"),
    path("keys/<str:key_id>/", keys.ProviderKeyDetailView.as_view(), name="api-key"),
    path("keys/<str:key_id>/validate/", keys.ProviderKeyValidateView.as_view(), name="api-key-validate"),
    path("providers/", views.ProviderListView.as_view(), name="api-providers"),
    path("models/", views.ModelCatalogView.as_view(), name="api-models"),
    path("endpoints/", views.CustomEndpointListView.as_view(), name="api-endpoints"),
    path("endpoints/<str:endpoint_id>/", views.CustomEndpointDetailView.as_view(), name="api-endpoint"),
]
