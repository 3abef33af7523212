"""Live-chat relay cost: Parley between a client and the fake provider, against calling the fake directly.

    .venv/bin/python -m bench.chat_stream [--servers uvicorn,daphne] [--quick]

Everything runs on loopback in separate processes: the fake provider (uvicorn), the app (uvicorn or daphne, one
process, embedded defaults: SQLite under var/, in-memory channel layer) and this client (raw asyncio HTTP/1.1 for
SSE, `websockets` for WebSocket). Stored replies go through `POST /api/v1/conversations/{id}/completions/` (SSE)
and `{"type":"send"}` frames (WebSocket), i.e. with their database writes. Measured per server and transport:

- added time to first token, p50 and p99, at 1 stream (sequential requests) and at 100 concurrent streams
  (100 clients, each starting a new 4-second reply paced 20 ms as soon as its last one ended, starts spread
  over the first 4 s), against the same load sent to the fake;
- added inter-chunk gap p99 at 100 concurrent streams paced 20 ms apart;
- relay throughput at saturation: upstream chunks delivered per CPU-second of the app process;
- resident memory per open stream with 500 concurrent streams, and how many of them failed.
"""
import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = ROOT / "var" / "bench-chat-stream.sqlite3"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# --- processes -------------------------------------------------------------------------------------------------------


def bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit TCP_NODELAY on Linux; servers handed an fd do not set it themselves (uvicorn
    # takes an inherited fd for a Unix socket), and Nagle's algorithm would hold small SSE writes for ~40 ms.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def base_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    env.update(DJANGO_SETTINGS_MODULE="config.settings.test", DATABASE_URL=f"sqlite:///{BENCH_DB}",
               LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1")
    return env


class Process:
    def __init__(self, args: list[str], env: dict[str, str]):
        self.sock = bound_socket()
        self.port = self.sock.getsockname()[1]
        args = [arg.replace("{fd}", str(self.sock.fileno())) for arg in args]
        self.popen = subprocess.Popen(args, cwd=ROOT, env=env, pass_fds=[self.sock.fileno()])

    def wait_ready(self, path: str) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
                    if conn.recv(64).startswith(b"HTTP/1.1"):
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.popen.args} did not start")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def rss_bytes(self) -> int:
        return int(Path(f"/proc/{self.popen.pid}/statm").read_text().split()[1]) * PAGE

    def stop(self) -> None:
        self.popen.terminate()
        try:
            self.popen.wait(15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self.sock.close()


def start_fake() -> Process:
    code = ("import uvicorn; from providers.fake.server import FakeProviderApp; "
            "uvicorn.run(FakeProviderApp(), fd={fd}, log_level='warning', lifespan='off', ws='none', "
            "access_log=False, backlog=2048)")
    fake = Process([sys.executable, "-c", code], base_env())
    fake.wait_ready("/")
    return fake


def start_app(server: str, fake: Process) -> Process:
    env = {**base_env(), "OPENAI_BASE_URL": f"http://127.0.0.1:{fake.port}/openai", "OPENAI_API_KEY": "fake-openai"}
    if server == "uvicorn":
        args = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--fd", "{fd}", "--lifespan", "on",
                "--no-access-log", "--log-level", "warning", "--backlog", "2048"]
    else:
        args = [sys.executable, "-m", "daphne", "--fd", "{fd}", "-v", "0", "config.asgi:application"]
    app = Process(args, env)
    app.wait_ready("/api/v1/health/")
    return app


def prepare_database(conversations: int) -> tuple[str, list[str]]:
    os.environ.update(base_env())
    import django

    django.setup()
    from django.core.management import call_command

    BENCH_DB.unlink(missing_ok=True)
    call_command("migrate", verbosity=0, interactive=False)
    from django.contrib.auth import get_user_model

    from accounts.services import api_token_create
    from chats.models import Conversation

    user = get_user_model().objects.create_user("bench", password="bench-password-123")
    _, token = api_token_create(user=user, name="bench")
    Conversation.objects.bulk_create([Conversation(owner=user, title=f"bench {i}") for i in range(conversations)])
    ids = [str(pk) for pk in Conversation.objects.filter(owner=user).values_list("pk", flat=True)]
    return token, ids


# --- clients ---------------------------------------------------------------------------------------------------------


class Stream:
    __slots__ = ("started", "times", "ok")

    def __init__(self):
        self.started = time.perf_counter()
        self.times: list[float] = []
        self.ok = False

    @property
    def ttft(self) -> float | None:
        return self.times[0] - self.started if self.times else None


async def http_stream(port: int, path: str, body: dict, headers: dict, marker: bytes, done: bytes,
                      on_first=None) -> Stream:
    """POST and read a streamed body, noting when each `marker` arrives (markers never straddle HTTP chunks)."""
    stream = Stream()
    payload = json.dumps(body).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    writer.write(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(payload)}\r\nConnection: close\r\n{head}\r\n".encode() + payload)
    try:
        response_head = await reader.readuntil(b"\r\n\r\n")
        if b" 200 " not in response_head.split(b"\r\n", 1)[0]:
            return stream
        tail = b""
        while True:
            data = await reader.read(65536)
            if not data:
                return stream
            now = time.perf_counter()
            window = tail + data
            count = window.count(marker)
            if count:
                if not stream.times and on_first is not None:
                    on_first()
                stream.times.extend([now] * count)
            if done in window:
                stream.ok = True
                return stream
            tail = window[-(len(done) + len(marker)):]
    finally:
        writer.close()


def direct_request(fake: Process, model: str):
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True,
            "stream_options": {"include_usage": True}}
    return lambda conversation, on_first=None: http_stream(
        fake.port, "/openai/chat/completions", body, {"Authorization": "Bearer fake-openai"},
        b'"content":"w', b"[DONE]", on_first)


def sse_request(app: Process, token: str, model: str):
    headers = {"Authorization": f"Bearer {token}"}
    return lambda conversation, on_first=None: http_stream(
        app.port, f"/api/v1/conversations/{conversation}/completions/", {"content": "hi", "model": model},
        headers, b"event: content", b"event: done", on_first)


class WsPool:
    """One WebSocket per conversation, opened lazily and reused for every send on it."""

    def __init__(self, app: Process, token: str, model: str):
        self.app, self.token, self.model = app, token, model
        self.sockets: dict[str, object] = {}

    async def __call__(self, conversation: str, on_first=None) -> Stream:
        import websockets

        ws = self.sockets.get(conversation)
        if ws is None:
            ws = await websockets.connect(f"ws://127.0.0.1:{self.app.port}/ws/conversations/{conversation}/",
                                          additional_headers={"Authorization": f"Bearer {self.token}"},
                                          max_queue=None, open_timeout=60, ping_interval=None)
            self.sockets[conversation] = ws
        stream = Stream()
        await ws.send(json.dumps({"type": "send", "content": "hi", "model": self.model}))
        while True:
            frame = await ws.recv()
            if '"type":"content"' in frame:
                if not stream.times and on_first is not None:
                    on_first()
                stream.times.append(time.perf_counter())
            elif '"type":"done"' in frame:
                stream.ok = '"status":"complete"' in frame
                return stream
            elif '"type":"error"' in frame:
                return stream

    async def close(self):
        await asyncio.gather(*(ws.close() for ws in self.sockets.values()), return_exceptions=True)
        self.sockets.clear()


# --- scenarios -------------------------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def sequential(request, conversations: list[str], count: int) -> list[Stream]:
    results = []
    for i in range(count):
        results.append(await request(conversations[i % len(conversations)]))
    return results


async def closed_loop(request, conversations: list[str], workers: int, seconds: float, stagger: float) -> list[Stream]:
    """`workers` clients, each starting its next reply when the previous ends, for `seconds`."""
    results: list[Stream] = []
    deadline = time.perf_counter() + seconds

    async def worker(index: int):
        await asyncio.sleep(stagger * index / workers)
        while time.perf_counter() < deadline:
            results.append(await request(conversations[index]))

    await asyncio.gather(*(worker(i) for i in range(workers)))
    return results


def gaps(streams: list[Stream]) -> list[float]:
    return [b - a for s in streams for a, b in zip(s.times, s.times[1:], strict=False)]


def ms(value: float) -> float:
    return round(value * 1000, 2)


async def run_server(server: str, fake: Process, token: str, conversations: list[str], quick: bool) -> dict:
    app = start_app(server, fake)
    out: dict = {}
    try:
        seq_count, load_seconds, open_streams = (15, 6, 200) if quick else (40, 10, 500)
        for transport in ("sse", "ws"):
            def make(model, transport=transport):
                return sse_request(app, token, model) if transport == "sse" else WsPool(app, token, model)

            # Warm up (imports, connections, caches).
            warm = make("openai/story-5-0")
            await closed_loop(warm, conversations, 20, 1.0, 0.2)
            if transport == "ws":
                await warm.close()

            one = make("openai/story-5-5")
            single = await sequential(one, conversations[:5], seq_count)
            if transport == "ws":
                await one.close()

            # 100 open streams paced 20 ms (5,000 chunks/s); each client starts its next reply when one ends.
            loaded_request = make("openai/story-200-20")
            loaded = await closed_loop(loaded_request, conversations, 100, load_seconds, 4.0)
            if transport == "ws":
                await loaded_request.close()

            # Saturation: replies as fast as the fake can send them; chunks per CPU-second of the app process.
            fast = make("openai/story-3000-0")
            cpu_before, wall_before = app.cpu_seconds(), time.perf_counter()
            saturated = await asyncio.gather(*(fast(c) for c in conversations[200:216]))
            cpu, wall = app.cpu_seconds() - cpu_before, time.perf_counter() - wall_before
            if transport == "ws":
                await fast.close()
            chunks = sum(len(s.times) for s in saturated)

            # Memory: many replies open at once (slow pace so all are open together).
            await asyncio.sleep(0.5)
            rss_before = app.rss_bytes()
            opened = {"n": 0}
            all_open = asyncio.Event()

            def on_first(opened=opened, all_open=all_open):
                opened["n"] += 1
                if opened["n"] == open_streams:
                    all_open.set()

            slow = make("openai/story-100-100")
            tasks = [asyncio.ensure_future(slow(c, on_first)) for c in conversations[:open_streams]]
            try:
                await asyncio.wait_for(all_open.wait(), 60)
            except TimeoutError:
                pass
            await asyncio.sleep(1.0)
            rss_open = app.rss_bytes()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            if transport == "ws":
                await slow.close()
            failures = sum(1 for r in results if isinstance(r, BaseException) or not r.ok or len(r.times) != 100)

            out[transport] = {
                "ttft1": [s.ttft for s in single if s.ttft is not None],
                "ttft100": [s.ttft for s in loaded if s.ttft is not None],
                "gaps100": gaps(loaded),
                "loaded_streams": len(loaded), "loaded_failures": sum(1 for s in loaded if not s.ok),
                "chunks_per_cpu_s": chunks / cpu if cpu else float("nan"), "chunks_per_s": chunks / wall,
                "saturated_failures": sum(1 for s in saturated if not s.ok),
                "open_streams": open_streams, "opened": opened["n"], "open_failures": failures,
                "rss_per_stream_kb": (rss_open - rss_before) / open_streams / 1024,
            }
    finally:
        app.stop()
    return out


async def run_direct(fake: Process, conversations: list[str], quick: bool) -> dict:
    seq_count, load_seconds = (15, 6) if quick else (40, 10)
    await closed_loop(direct_request(fake, "story-5-0"), conversations, 20, 1.0, 0.2)
    single = await sequential(direct_request(fake, "story-5-5"), conversations, seq_count)
    loaded = await closed_loop(direct_request(fake, "story-200-20"), conversations, 100, load_seconds, 4.0)
    cpu_before, wall_before = fake.cpu_seconds(), time.perf_counter()
    saturated = await asyncio.gather(*(direct_request(fake, "story-3000-0")(c) for c in conversations[:16]))
    cpu, wall = fake.cpu_seconds() - cpu_before, time.perf_counter() - wall_before
    chunks = sum(len(s.times) for s in saturated)
    return {"ttft1": [s.ttft for s in single], "ttft100": [s.ttft for s in loaded], "gaps100": gaps(loaded),
            "chunks_per_s": chunks / wall, "fake_chunks_per_cpu_s": chunks / cpu if cpu else float("nan")}


def report(direct: dict, servers: dict[str, dict]) -> None:
    print("\nDirect to the fake provider: "
          f"TTFT p50 {ms(pct(direct['ttft1'], .5))} ms @1, p99 {ms(pct(direct['ttft100'], .99))} ms @100; "
          f"gap p99 {ms(pct(direct['gaps100'], .99))} ms; {direct['chunks_per_s']:.0f} chunks/s "
          f"({direct['fake_chunks_per_cpu_s']:.0f} per fake CPU-s)\n")
    print("| server | transport | added TTFT p50 @1 | added TTFT p99 @100 | added gap p99 @100 | chunks/s per core "
          "| streams @100 (failed) | RSS per open stream | open streams (failed) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for server, transports in servers.items():
        for transport, r in transports.items():
            print(f"| {server} | {transport} "
                  f"| {ms(pct(r['ttft1'], .5) - pct(direct['ttft1'], .5))} ms "
                  f"| {ms(pct(r['ttft100'], .99) - pct(direct['ttft100'], .99))} ms "
                  f"| {ms(pct(r['gaps100'], .99) - pct(direct['gaps100'], .99))} ms "
                  f"| {r['chunks_per_cpu_s']:,.0f} "
                  f"| {r['loaded_streams']} ({r['loaded_failures']}) "
                  f"| {r['rss_per_stream_kb']:.0f} KB "
                  f"| {r['opened']}/{r['open_streams']} ({r['open_failures']}) |")
    print("\nRaw (ms): " + json.dumps({
        server: {transport: {"ttft1_p50": ms(pct(r["ttft1"], .5)), "ttft100_p50": ms(pct(r["ttft100"], .5)),
                             "ttft100_p99": ms(pct(r["ttft100"], .99)), "gap100_p99": ms(pct(r["gaps100"], .99)),
                             "chunks_per_s": round(r["chunks_per_s"])}
                 for transport, r in transports.items()}
        for server, transports in servers.items()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--servers", default="uvicorn,daphne")
    parser.add_argument("--quick", action="store_true", help="shorter runs, 200 open streams")
    args = parser.parse_args()
    token, conversations = prepare_database(600)
    fake = start_fake()
    try:
        direct = asyncio.run(run_direct(fake, conversations, args.quick))
        servers = {}
        for server in args.servers.split(","):
            servers[server] = asyncio.run(run_server(server, fake, token, conversations, args.quick))
            print(f"{server}: done", flush=True)
        report(direct, servers)
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
