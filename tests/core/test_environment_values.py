"""Start-up refuses values pasted wrong (two variables on one line, stray whitespace), naming the variable."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def check(**overrides) -> subprocess.CompletedProcess:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings.local", **overrides)
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_two_variables_pasted_on_one_line_are_refused():
    result = check(OPENAI_BASE_URL="http://127.0.0.1:9100/openai OPENAI_API_KEY=fake-openai")
    assert result.returncode != 0
    assert "OPENAI_BASE_URL contains another assignment" in result.stderr
    assert "One KEY=value per line".lower() in result.stderr.lower()
    assert "fake-openai" not in result.stdout + result.stderr


@pytest.mark.parametrize("name,value", [
    ("ANTHROPIC_API_KEY", "sk-ant-secret-value "),
    ("GEMINI_BASE_URL", " http://127.0.0.1:9100/gemini"),
    ("REDIS_URL", "redis://127.0.0.1:6379/0 extra"),
    ("PARLEY_DEFAULT_MODEL", "openai/ echo"),
])
def test_stray_whitespace_in_urls_keys_and_models_is_refused(name, value):
    result = check(**{name: value})
    assert result.returncode != 0
    assert f"{name} contains whitespace" in result.stderr
    assert value.strip() not in result.stdout + result.stderr


def test_clean_values_start():
    result = check(OPENAI_BASE_URL="http://127.0.0.1:9100/openai", OPENAI_API_KEY="fake-openai")
    assert result.returncode == 0, result.stderr
