"""WebSocket authentication: the session cookie, or `Authorization: Bearer` from non-browser clients."""
from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware

from accounts.authentication import user_for_token


class BearerTokenMiddleware(BaseMiddleware):
    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers", []))
        auth = headers.get(b"authorization", b"").decode("latin-1")
        if auth.lower().startswith("bearer "):
            user = await database_sync_to_async(user_for_token)(auth[7:].strip())
            if user is not None:
                scope = dict(scope, user=user)
        return await super().__call__(scope, receive, send)


def TokenOrSessionAuthMiddlewareStack(inner):  # noqa: N802 - named like Channels' own stacks
    # The session stack sets scope["user"] first; a valid Bearer token then takes precedence.
    return AuthMiddlewareStack(BearerTokenMiddleware(inner))
