"""WebSocket routes of every app."""
from chats.routing import websocket_urlpatterns as chat_routes
from merging.routing import websocket_urlpatterns as merge_routes

websocket_urlpatterns = [*chat_routes, *merge_routes]
