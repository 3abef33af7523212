"""Account writes: sign-up (the first account is the admin), approval, and personal API tokens."""
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from accounts.models import ApiToken, UserPreferences, generate_token, hash_token
from accounts.selectors import admin_exists

# Any constant: the advisory lock that serialises sign-ups on PostgreSQL.
_SIGN_UP_LOCK = 0x5041524C


@transaction.atomic
def user_sign_up(*, username: str, password: str, email: str = "", needs_approval: bool = False):
    """Create an account from the sign-up page; while no admin exists it becomes the admin (staff and superuser),
    however many users were made otherwise before (`create_api_token --create-user`, the admin).

    With `needs_approval` the account is inactive until an admin approves it (the admin-to-be never waits).
    """
    User = get_user_model()
    # Two simultaneous first sign-ups must not both become admin. Row locks cannot guard an empty
    # table, so PostgreSQL takes a transaction-scoped advisory lock; SQLite transactions here begin
    # IMMEDIATE (settings), which already serialises writers.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SIGN_UP_LOCK])
    first = not admin_exists()
    user = User.objects.create_user(username=username, password=password, email=email,
                                    is_active=first or not needs_approval)
    if first:
        user.is_staff = True
        user.is_superuser = True
        user.save(update_fields=["is_staff", "is_superuser"])
    return user


def users_approve(*, users) -> int:
    """Let accounts that signed up under PARLEY_SIGNUP=approval sign in; returns how many were waiting."""
    return users.filter(is_active=False).update(is_active=True)


def api_token_create(*, user, name: str = "") -> tuple[ApiToken, str]:
    """Create a token; returns the stored row and the raw token, which is never shown again."""
    raw = generate_token()
    token = ApiToken.objects.create(user=user, name=name, digest=hash_token(raw), hint=raw[-4:])
    return token, raw


def api_token_revoke(*, user, token_id: int) -> bool:
    deleted, _ = ApiToken.objects.filter(user=user, pk=token_id).delete()
    return bool(deleted)


def preferences_get(*, user) -> UserPreferences:
    """The user's settings-page choices (defaults until they save some)."""
    preferences = UserPreferences.objects.filter(user=user).first()
    return preferences or UserPreferences(user=user)


def preferences_update(*, user, **changes) -> UserPreferences:
    unknown = set(changes) - {"default_model", "theme"}
    if unknown:
        raise TypeError(f"preferences_update got unknown fields: {sorted(unknown)}")
    preferences, _ = UserPreferences.objects.update_or_create(user=user, defaults=changes)
    return preferences
