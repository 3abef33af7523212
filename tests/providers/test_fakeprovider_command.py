"""`manage.py fakeprovider` serves the fake on loopback as its own process."""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent.parent


def test_command_serves_every_protocol_on_a_free_port():
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings.test", PYTHONUNBUFFERED="1")
    process = subprocess.Popen([sys.executable, "manage.py", "fakeprovider", "--port", "0"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:(\d+)", first)[0]
        assert not url.endswith(":0")
        printed = [process.stdout.readline() for _ in range(8)]  # a line per provider
        assert any(f"ANTHROPIC_BASE_URL={url}/anthropic" in line for line in printed)
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
