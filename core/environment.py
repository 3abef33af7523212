"""Start-up checks of values read from the environment: pasted lines, stray whitespace, weak secrets, bad keys."""
import binascii
import re

from django.core.exceptions import ImproperlyConfigured

# `OPENAI_BASE_URL=http://x OPENAI_API_KEY=y` pasted on one line makes the first variable's value swallow the rest.
_PASTED_ASSIGNMENT = re.compile(r"\s[A-Z][A-Z0-9_]*=")


def refuse_malformed_values(environ, names) -> None:
    """URLs, keys and model names hold no whitespace at all; the message names the variable, never the value."""
    for name in names:
        value = environ.get(name)
        if value is None or not re.search(r"\s", value):
            continue
        if _PASTED_ASSIGNMENT.search(value):
            raise ImproperlyConfigured(
                f"{name} contains another assignment (`... OTHER_NAME=...`): two variables were pasted on one "
                f"line. Put one KEY=value per line in .env or the environment."
            )
        raise ImproperlyConfigured(
            f"{name} contains whitespace: a URL, key or model name has none. Remove the spaces around or inside "
            f"the value."
        )


def refuse_weak_secret_key(secret_key: str) -> None:
    """Django's own rule (check security.W009): 50 characters or more, 5 different ones, no `django-insecure-`."""
    from django.core.checks.security.base import (
        SECRET_KEY_INSECURE_PREFIX,
        SECRET_KEY_MIN_LENGTH,
        SECRET_KEY_MIN_UNIQUE_CHARACTERS,
    )

    if (len(secret_key) < SECRET_KEY_MIN_LENGTH or len(set(secret_key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS
            or secret_key.startswith(SECRET_KEY_INSECURE_PREFIX)):
        raise ImproperlyConfigured(
            f"SECRET_KEY is too weak for production: it needs at least {SECRET_KEY_MIN_LENGTH} characters, "
            f"{SECRET_KEY_MIN_UNIQUE_CHARACTERS} different ones, and no '{SECRET_KEY_INSECURE_PREFIX}' prefix. "
            f"Make one with: python -c 'import secrets; print(secrets.token_urlsafe(64))'"
        )


def refuse_invalid_encryption_keys(keys: list[str]) -> None:
    from cryptography.fernet import Fernet

    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError, binascii.Error):
            raise ImproperlyConfigured(
                f"PARLEY_ENCRYPTION_KEYS: key {position} of {len(keys)} is not a Fernet key (32 url-safe "
                f"base64-encoded bytes). Make one with: python -c 'from cryptography.fernet import Fernet; "
                f"print(Fernet.generate_key().decode())'"
            ) from None
