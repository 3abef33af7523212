"""WebSocket Origin check, read from settings per connection: browsers must come from an allowed host.

Browsers always send Origin on a WebSocket handshake, so a page on another site cannot ride the session cookie;
non-browser clients (which authenticate with `Authorization: Bearer`) may omit it.
"""
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import validate_host


def origin_allowed(scope) -> bool:
    headers = dict(scope.get("headers") or [])
    origin = headers.get(b"origin", b"").decode("latin-1").strip()
    if not origin:
        return True
    if origin in set(settings.CSRF_TRUSTED_ORIGINS) | set(getattr(settings, "CORS_ALLOWED_ORIGINS", [])):
        return True
    parsed = urlsplit(origin.lower())
    if parsed.scheme not in ("http", "https", "ws", "wss") or not parsed.hostname:
        return False
    host = headers.get(b"host", b"").decode("latin-1").strip().lower()
    if host and parsed.netloc == host:
        return True  # same origin as the page that opened it
    return validate_host(parsed.hostname, settings.ALLOWED_HOSTS)


class SettingsOriginValidator:
    """Like Channels' AllowedHostsOriginValidator, but settings are read per connection and a missing Origin
    (a non-browser client) is let through to authentication."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
