"""ASGI entry point: HTTP through Django, WebSocket through the Channels router, lifespan for generations."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from accounts.websocket_auth import TokenOrSessionAuthMiddlewareStack  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402
from config.websocket_origin import SettingsOriginValidator  # noqa: E402
from core.asgi_limits import RequestBodyLimit  # noqa: E402
from core.lifespan import lifespan_app  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": RequestBodyLimit(django_asgi_app),
        "websocket": SettingsOriginValidator(TokenOrSessionAuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
        "lifespan": lifespan_app,
    }
)
