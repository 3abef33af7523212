"""`manage.py fakeprovider` serves the fake on loopback as its own process and prints lines for .env."""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent.parent


def check_pasted_configuration(pasted: dict[str, str]) -> dict:
    """What Parley's settings make of the printed lines, read in another process."""
    code = ("import json; from django.conf import settings; print(json.dumps({'default_model': "
            "settings.PARLEY_DEFAULT_MODEL, 'providers': settings.PARLEY_PROVIDER_ENV}))")
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.update(pasted, DJANGO_SETTINGS_MODULE="config.settings.test")
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_command_serves_every_protocol_on_a_free_port():
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings.test", PYTHONUNBUFFERED="1")
    process = subprocess.Popen([sys.executable, "manage.py", "fakeprovider", "--port", "0"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:(\d+)", first)[0]
        assert not url.endswith(":0")
        printed = []
        while not (line := process.stdout.readline()).startswith("# merges"):
            printed.append(line.rstrip("\n"))
        # Pasteable into .env: comments, or one KEY=value per line with nothing else on it.
        assignments = [line for line in printed if not line.startswith("#")]
        assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*=\S+", line) for line in assignments), assignments
        pasted = dict(line.split("=", 1) for line in assignments)
        assert pasted["ANTHROPIC_BASE_URL"] == f"{url}/anthropic" and pasted["PARLEY_DEFAULT_MODEL"] == "openai/echo"
        configured = check_pasted_configuration(pasted)
        assert configured["default_model"] == "openai/echo"
        assert all(conf["api_key"] and conf["base_url"].startswith(url) for conf in configured["providers"].values())
        assert len(configured["providers"]) == 8
        with httpx.Client(base_url=url, timeout=10) as client:
            for _ in range(100):  # the socket is bound before the server loop starts accepting
                try:
                    body = client.post("/openai/chat/completions", json={
                        "model": "echo", "stream": True, "messages": [{"role": "user", "content": "ping"}]}).text
                    break
                except httpx.ConnectError:
                    time.sleep(0.05)
            else:
                raise AssertionError("the fake provider never accepted a connection")
            assert body.startswith("data: {") and body.endswith("data: [DONE]\n\n")
            assert client.get("/anthropic/v1/models").json()["has_more"] is True
            assert client.get("/_fake/requests").json()[0]["path"] == "/openai/chat/completions"
    finally:
        process.terminate()
        process.wait(timeout=10)
