"""DRF authentication: `Authorization: Bearer <personal API token>`, or the session from our own pages."""
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.permissions import SAFE_METHODS

from accounts.models import ApiToken, hash_token
from core.origins import CrossSiteRequest, cross_site


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

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header; expected 'Bearer <token>'.")
        try:
            token = header[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed("Invalid token.") from exc
        user = user_for_token(token)
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API token.")
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
