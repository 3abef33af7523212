"""WebSocket routes of this app."""
from django.urls import path

from merging.consumers import MergeJobConsumer

websocket_urlpatterns = [
    path("ws/merges/<str:job_id>/", MergeJobConsumer.as_asgi()),
]
