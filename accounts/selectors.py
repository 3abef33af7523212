"""Reads of accounts: a user's personal API tokens."""
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
