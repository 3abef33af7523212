"""Development settings: embedded defaults, DEBUG on, a generated encryption key under var/."""
from .base import *  # noqa: F401,F403
from .base import VAR_DIR, env

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env("SECRET_KEY", default="parley-insecure-development-key-change-me-0123456789")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "0.0.0.0"])

from core.encryption_setup import development_encryption_keys  # noqa: E402

PARLEY_ENCRYPTION_KEYS = env.list("PARLEY_ENCRYPTION_KEYS", default=[]) or development_encryption_keys(VAR_DIR)

WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
