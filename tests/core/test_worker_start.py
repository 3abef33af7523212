"""`make worker` (celery -A config worker) refuses to start without a broker instead of idling on AMQP."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_worker_without_a_broker_refuses_and_says_why():
    env = {k: v for k, v in os.environ.items() if k not in {"CELERY_BROKER_URL", "REDIS_URL"}}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    result = subprocess.run([sys.executable, "-m", "celery", "-A", "config", "worker", "--beat", "--loglevel", "info"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "needs a broker: set CELERY_BROKER_URL or REDIS_URL" in output
    assert "amqp://" not in output
