"""Test settings: the embedded defaults, or PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set."""
import uuid

from .base import *  # noqa: F401,F403
from .base import DATABASES, VAR_DIR, env, upload_storage_config

DEBUG = False
SECRET_KEY = "parley-test-secret-key-not-for-production-0123456789abcdef"
ALLOWED_HOSTS = ["*"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Two fixed keys: the newest first, so rotation can be exercised.
PARLEY_ENCRYPTION_KEYS = env.list(
    "PARLEY_ENCRYPTION_KEYS", default=["2NvMW59jdMTT77b6ypdSOiu0f-7qyeKXQoUxstLnp_c="]
)
# PARLEY_TEST_DB names the test database, so parallel runs (and their live servers) stay apart.
_TEST_DB = env("PARLEY_TEST_DB", default="parley")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so live servers in other threads and processes see the same data.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{_TEST_DB}.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_{_TEST_DB}"}

WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    # Tests that look at stored files point this at a temporary directory of their own.
    "uploads": upload_storage_config(VAR_DIR / f"test-uploads-{_TEST_DB}"),
}

# Throttle counters of this process only (tests/conftest.py narrows it to one test): parallel runs sharing a Redis,
# and live-server subprocesses, never count each other's requests.
PARLEY_THROTTLE_PREFIX = f"throttle-{uuid.uuid4().hex[:12]}"
