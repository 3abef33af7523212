"""Production settings: everything secret comes from the environment, HTTPS assumed."""
from django.core.exceptions import ImproperlyConfigured

from core.environment import refuse_invalid_encryption_keys, refuse_weak_secret_key

from .base import *  # noqa: F401,F403
from .base import env

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set in production.")
refuse_weak_secret_key(SECRET_KEY)
PARLEY_ENCRYPTION_KEYS = env.list("PARLEY_ENCRYPTION_KEYS", default=[])
if not PARLEY_ENCRYPTION_KEYS:
    raise ImproperlyConfigured(
        "PARLEY_ENCRYPTION_KEYS must be set in production (comma-separated Fernet keys, newest first)."
    )
refuse_invalid_encryption_keys(PARLEY_ENCRYPTION_KEYS)

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
