"""WebSocket Origin check, as Django's CSRF check judges Origin: the connection's own origin or CSRF_TRUSTED_ORIGINS.

Browsers always send Origin on a WebSocket handshake, so a page on another site cannot ride the session cookie;
non-browser clients (which authenticate with `Authorization: Bearer`) may omit it. ALLOWED_HOSTS plays no part:
it says which Host headers this server answers, not which sites may open sockets to it (with `*`, every one).
"""
from channels.security.websocket import WebsocketDenier

from core.origins import origin_matches

_HTTP_SCHEME = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


def origin_allowed(scope) -> bool:
    headers = dict(scope.get("headers") or [])
    origin = headers.get(b"origin", b"").decode("latin-1").strip()
    if not origin:
        return True
    host = headers.get(b"host", b"").decode("latin-1")
    return origin_matches(origin, scheme=_HTTP_SCHEME.get(scope.get("scheme") or "ws", ""), host=host)


class SettingsOriginValidator:
    """Like Channels' AllowedHostsOriginValidator, but judged as Django's CSRF check judges Origin, settings read
    per connection, and a missing Origin (a non-browser client) let through to authentication."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
