"""Reads of accounts: sign-up state and a user's personal API tokens."""
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import Http404

from accounts.models import ApiToken


def api_token_list(*, user) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-id")


def api_token_get(*, user, token_id) -> ApiToken:
    try:
        return api_token_list(user=user).get(pk=int(token_id))
    except (ApiToken.DoesNotExist, TypeError, ValueError):
        raise Http404("No such token.")


def admin_exists() -> bool:
    return get_user_model().objects.filter(is_superuser=True, is_active=True).exists()


def user_awaiting_approval(*, username: str, password: str) -> bool:
    """An account signed up under PARLEY_SIGNUP=approval that no admin approved yet (inactive, never signed in),
    and this is its password."""
    user = get_user_model().objects.filter(username=username, is_active=False, last_login__isnull=True).first()
    return user is not None and user.check_password(password)


def any_user_exists() -> bool:
    return get_user_model().objects.exists()
