"""Production settings: `check --deploy` is clean with real secrets, and start-up refuses without them."""
import os
import secrets
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def manage(*args, **env_overrides) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in {"SECRET_KEY", "PARLEY_ENCRYPTION_KEYS", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL",
                        "DEBUG", "ALLOWED_HOSTS"}}
    env.update(DJANGO_SETTINGS_MODULE="config.settings.production", **env_overrides)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def real_secrets() -> dict:
    return {"SECRET_KEY": secrets.token_urlsafe(64)[:60], "PARLEY_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "ALLOWED_HOSTS": "example.com"}


def test_check_deploy_has_no_warnings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **real_secrets())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def test_refuses_to_start_without_secret_key():
    env = real_secrets()
    del env["SECRET_KEY"]
    result = manage("check", **env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set in production" in result.stderr


def test_refuses_to_start_without_encryption_keys():
    env = real_secrets()
    del env["PARLEY_ENCRYPTION_KEYS"]
    result = manage("check", **env)
    assert result.returncode != 0
    assert "PARLEY_ENCRYPTION_KEYS must be set in production" in result.stderr


def test_refuses_a_weak_secret_key_without_echoing_it():
    for weak in ("short-7q", "django-insecure-" + secrets.token_urlsafe(64), "ab" * 40):
        result = manage("check", **dict(real_secrets(), SECRET_KEY=weak))
        assert result.returncode != 0
        assert "SECRET_KEY is too weak for production" in result.stderr
        assert weak not in result.stdout + result.stderr


def test_refuses_an_encryption_key_that_is_not_a_fernet_key():
    good = Fernet.generate_key().decode()
    for keys in ("notakey", f"{good},notakey2"):
        result = manage("check", **dict(real_secrets(), PARLEY_ENCRYPTION_KEYS=keys))
        assert result.returncode != 0
        assert "PARLEY_ENCRYPTION_KEYS: key" in result.stderr and "is not a Fernet key" in result.stderr
        assert "notakey" not in result.stdout + result.stderr.replace("PARLEY_ENCRYPTION_KEYS", "")
