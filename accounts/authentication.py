"""DRF authentication: `Authorization: Bearer <personal API token>`, or the session from our own pages."""
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.permissions import SAFE_METHODS

from accounts.models import ApiToken, hash_token
from core.db_workers import db_call
from core.local_cache import LocalCache
from core.origins import CrossSiteRequest, cross_site

# Token digest → its active user, for the async streaming views (no database round trip or thread hop per
# request). Cleared in every process when a token or a user changes (accounts.apps); entries live a minute, so
# `last_used_at` is still recorded about once a minute per token.
_token_users = LocalCache("api_tokens", ttl=60.0)


def api_token_for(token: str) -> ApiToken | None:
    """The token row (with its user) of a raw token of an active user, or None; records when it was last used."""
    try:
        api_token = ApiToken.objects.select_related("user").get(digest=hash_token(token))
    except ApiToken.DoesNotExist:
        return None
    if not api_token.user.is_active:
        return None
    now = timezone.now()
    if api_token.last_used_at is None or (now - api_token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=now)
    return api_token


def user_for_token(token: str):
    """The active user a raw token belongs to, or None."""
    api_token = api_token_for(token)
    return api_token.user if api_token is not None else None


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def _token(self, request) -> str | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header; expected 'Bearer <token>'.")
        try:
            return header[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed("Invalid token.") from exc

    def authenticate(self, request):
        token = self._token(request)
        if token is None:
            return None
        user = user_for_token(token)
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API token.")
        return user, token

    async def aauthenticate(self, request):
        """The same answer from async code: a cached token is checked without touching the database."""
        token = self._token(request)
        if token is None:
            return None
        digest = hash_token(token)
        user = _token_users.get(digest)
        if user is None:
            user = await db_call(user_for_token, token)
            if user is None:
                raise exceptions.AuthenticationFailed("Invalid or revoked API token.")
            _token_users.set(digest, user)
        return user, token

    def authenticate_header(self, request):
        return self.keyword


class SameOriginSessionAuthentication(authentication.SessionAuthentication):
    """The session, with CSRF, and same-origin (Fetch Metadata, Origin, Referer) for requests that change things:
    a page on another site cannot start work with the user's cookie. Bearer clients never get here."""

    def enforce_csrf(self, request):
        # First, so a cross-site request is told so (code cross_site) rather than failing CSRF's own Origin check.
        if request.method not in SAFE_METHODS and cross_site(request):
            raise CrossSiteRequest()
        super().enforce_csrf(request)
