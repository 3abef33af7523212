"""Fernet encryption of stored secrets over PARLEY_ENCRYPTION_KEYS (MultiFernet, newest key first)."""
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretUndecryptable(Exception):
    """The stored secret was encrypted with a key that is no longer configured."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("PARLEY_ENCRYPTION_KEYS is empty.")
    try:
        return MultiFernet([Fernet(key.strip().encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured("PARLEY_ENCRYPTION_KEYS holds a value that is not a Fernet key.") from exc


def _current() -> MultiFernet:
    return _fernet(tuple(settings.PARLEY_ENCRYPTION_KEYS))


def encrypt_secret(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def decrypt_secret(token: str) -> str:
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUndecryptable("This secret can no longer be decrypted; re-enter it.") from exc


def rotate_secret(token: str) -> str:
    """Re-encrypt under the newest key; raises SecretUndecryptable when no configured key opens it."""
    try:
        return _current().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUndecryptable("This secret can no longer be decrypted; re-enter it.") from exc


def secret_hint(plaintext: str) -> str:
    """What may be shown of a secret: its last four characters."""
    return "…" + plaintext[-4:] if len(plaintext) >= 8 else "…"
