"""`python manage.py runserver` (daphne's, via INSTALLED_APPS) serves pages and WebSockets for development."""
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import websockets

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def websocket_close_code(url: str, origin: str) -> int:
    async with websockets.connect(url, origin=origin, open_timeout=10) as ws:  # the handshake succeeded
        try:
            await asyncio.wait_for(ws.recv(), timeout=10)
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code
    raise AssertionError("the consumer did not close an anonymous socket")


def test_runserver_serves_pages_and_websockets():
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}}
    env.update(DJANGO_SETTINGS_MODULE="config.settings.local", PYTHONUNBUFFERED="1")
    process = subprocess.Popen([sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                page = httpx.get(f"{base}/login/", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read()
                time.sleep(0.1)
        else:
            raise AssertionError("runserver never answered")
        assert page.status_code == 200 and "Sign in" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        # A WebSocket handshake reaches the Channels consumer, which closes an anonymous client with 4401.
        code = asyncio.run(websocket_close_code(f"ws://127.0.0.1:{port}/ws/compare/", origin=base))
        assert code == 4401
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the autoreloader runs the server in a child process
        output = process.communicate(timeout=20)[0]
    assert "ASGI/Daphne" in output or "daphne" in output.lower(), output
