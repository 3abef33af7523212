"""Account writes: sign-up (the first account is the admin) and personal API tokens."""
from django.contrib.auth import get_user_model
from django.db import transaction

from accounts.models import ApiToken, generate_token, hash_token


@transaction.atomic
def user_sign_up(*, username: str, password: str, email: str = ""):
    User = get_user_model()
    # Lock the table's first row so two simultaneous first sign-ups cannot both become admin.
    first = not User.objects.select_for_update().exists()
    user = User.objects.create_user(username=username, password=password, email=email)
    if first:
        user.is_staff = True
        user.is_superuser = True
        user.save(update_fields=["is_staff", "is_superuser"])
    return user


def api_token_create(*, user, name: str = "") -> tuple[ApiToken, str]:
    """Create a token; returns the stored row and the raw token, which is never shown again."""
    raw = generate_token()
    token = ApiToken.objects.create(user=user, name=name, digest=hash_token(raw), hint=raw[-4:])
    return token, raw


def api_token_revoke(*, user, token_id: int) -> bool:
    deleted, _ = ApiToken.objects.filter(user=user, pk=token_id).delete()
    return bool(deleted)
