"""`make fuzz`: schemathesis against /api/schema/ of a live server (own SQLite file, the fake provider, loopback only).

Not part of `make test`: it takes minutes and explores at random. Extra arguments go to `schemathesis run`.
"""
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from providers.fake.server import FakeProviderServer
from providers.registry import PROVIDERS
from tests.fixtures.live_server import _bound_socket

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ARGS = ["--checks", "all", "--max-examples", "10", "--workers", "1", "--request-timeout", "20",
                "--max-time", "600", "--continue-on-failure"]


def main(argv: list[str]) -> int:
    fake = FakeProviderServer().start()
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}}
        env.update(DJANGO_SETTINGS_MODULE="config.settings.local", DEBUG="false",
                   DATABASE_URL=f"sqlite:///{tmp}/fuzz.sqlite3", PARLEY_DEFAULT_MODEL="openai/echo",
                   # The fuzzer sends thousands of requests a minute: throttling would answer most of them.
                   PARLEY_API_RATE_USER="100000/min", PARLEY_API_RATE_ANON="100000/min",
                   PARLEY_CATALOG_REFRESH_RATE="100000/min", PARLEY_KEY_VALIDATION_RATE="100000/min")
        for slug, spec in PROVIDERS.items():
            env[spec.base_url_env], env[spec.key_env] = f"{fake.url}/{slug}", f"fuzz-{slug}"
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        token = subprocess.run([*manage, "create_api_token", "fuzzer", "--create-user"], cwd=ROOT, env=env,
                               check=True, capture_output=True, text=True).stdout.split()[-1]
        sock = _bound_socket()
        host, port = sock.getsockname()
        url = f"http://{host}:{port}"
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "config.asgi:application", "--fd", str(sock.fileno()),
             "--lifespan", "on", "--log-level", "warning"],
            cwd=ROOT, env=env, pass_fds=[sock.fileno()])
        try:
            for _ in range(200):
                try:
                    httpx.get(f"{url}/api/v1/health/", timeout=2)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            command = ["schemathesis", "run", f"{url}/api/schema/", "--url", url,
                       "--header", f"Authorization: Bearer {token}", *(argv or DEFAULT_ARGS)]
            return subprocess.run([str(Path(sys.executable).with_name("schemathesis")), *command[1:]],
                                  cwd=ROOT).returncode
        finally:
            server.terminate()
            server.wait(timeout=20)
            fake.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
