"""WebSocket routes of this app."""
from django.urls import path

from merging.consumers import CompareConsumer, MergeJobConsumer

websocket_urlpatterns = [
    path("ws/compare/", CompareConsumer.as_asgi()),
    path("ws/merges/<str:job_id>/", MergeJobConsumer.as_asgi()),
]
