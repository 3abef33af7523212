"""Live-chat relay cost: Parley between a client and the fake provider, against calling the fake directly.

    .venv/bin/python -m bench.chat_stream [--quick] [--configs sqlite,postgres] [--skip-burst]

Everything runs on loopback in separate processes: the fake provider (uvicorn), the app (uvicorn, lifespan on)
and this client (raw asyncio HTTP/1.1). Every figure is Parley's path minus the same load sent straight to the
fake in the same run (the machine is shared, so only same-run differences mean anything):

- stateless `POST /api/v1/chat/stream/` (nothing stored): added TTFT p50 at 1 stream (sequential requests) and
  p99 at 100 open streams (100 clients, each starting a new 4-second reply of 200 chunks 20 ms apart as soon as
  its last one ended, starts spread over 4 s); app CPU per relayed upstream chunk at saturation (16 replies of
  3,000 unpaced chunks);
- stored `POST /api/v1/conversations/{id}/completions/` (user message, assistant message and generation
  written, event log every slice): the same figures, on SQLite (embedded: in-memory channel layer) and on
  PostgreSQL + Redis (database `bench_engine`, Redis db 2, `CONN_MAX_AGE=60`);
- burst: 500 stored replies started at once on 500 conversations, PostgreSQL + Redis, two web processes
  sharing one listening socket: TTFT p50 / p99 from the moment all 500 requests are sent.
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
PG_NAME = os.environ.get("PARLEY_BENCH_PG_DB", "bench_engine")
PG_URL = f"postgres://postgres@127.0.0.1:5432/{PG_NAME}"
REDIS_URL = os.environ.get("PARLEY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/2")
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


def base_env(config: str = "sqlite") -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    env.update(DJANGO_SETTINGS_MODULE="config.settings.test", LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1",
               PARLEY_API_RATE_USER="1000000/min")
    if config == "postgres":
        env.update(DATABASE_URL=PG_URL, REDIS_URL=REDIS_URL, CONN_MAX_AGE="60")
    else:
        env.update(DATABASE_URL=f"sqlite:///{BENCH_DB}")
    return env


class Process:
    def __init__(self, args: list[str], env: dict[str, str], sock: socket.socket | None = None):
        self.sock = sock or bound_socket()
        self.owns_socket = sock is None
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
        if self.owns_socket:
            self.sock.close()


def start_fake() -> Process:
    code = ("import uvicorn; from providers.fake.server import FakeProviderApp; "
            "uvicorn.run(FakeProviderApp(), fd={fd}, log_level='warning', lifespan='off', ws='none', "
            "access_log=False, backlog=2048)")
    fake = Process([sys.executable, "-c", code], base_env())
    fake.wait_ready("/")
    return fake


APP_ARGS = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--fd", "{fd}", "--lifespan", "on",
            "--no-access-log", "--log-level", "warning", "--backlog", "2048"]


def app_env(fake: Process, config: str) -> dict[str, str]:
    return {**base_env(config), "OPENAI_BASE_URL": f"http://127.0.0.1:{fake.port}/openai",
            "OPENAI_API_KEY": "fake-openai"}


def start_app(server: str, fake: Process, config: str = "sqlite") -> Process:
    """One app process (`server` is kept for bench.gateway's calls: uvicorn is the server Parley ships with)."""
    app = Process(APP_ARGS, app_env(fake, config))
    app.wait_ready("/api/v1/health/")
    return app


class AppGroup:
    """`count` app processes accepting on one shared listening socket (the kernel spreads the connections)."""

    def __init__(self, fake: Process, config: str, count: int):
        self.sock = bound_socket()
        self.port = self.sock.getsockname()[1]
        self.processes = [Process(APP_ARGS, app_env(fake, config), sock=self.sock) for _ in range(count)]
        self.processes[0].wait_ready("/api/v1/health/")
        time.sleep(2.0)  # the others start in parallel; give them the same head start

    def cpu_seconds(self) -> float:
        return sum(process.cpu_seconds() for process in self.processes)

    def stop(self) -> None:
        for process in self.processes:
            process.stop()
        self.sock.close()


def prepare_database(conversations: int, config: str = "sqlite") -> tuple[str, list[str]]:
    """A fresh database with one user, its API token and `conversations` empty conversations (in a child
    process, since Django is set up once per process and a run may use two databases)."""
    result = subprocess.run([sys.executable, "-m", "bench.chat_stream", "--prepare", config, str(conversations)],
                            cwd=ROOT, env=base_env(config), capture_output=True, text=True, check=True)
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return data["token"], data["conversations"]


def _prepare_here(conversations: int, config: str) -> None:
    if config == "postgres":
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{PG_NAME}"')
    else:
        BENCH_DB.unlink(missing_ok=True)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    from django.contrib.auth import get_user_model

    from accounts.services import api_token_create
    from chats.models import Conversation

    user = get_user_model().objects.create_user("bench", password="bench-password-123")
    _, token = api_token_create(user=user, name="bench")
    Conversation.objects.bulk_create([Conversation(owner=user, title=f"bench {i}") for i in range(conversations)])
    ids = [str(pk) for pk in Conversation.objects.filter(owner=user).values_list("pk", flat=True)]
    print(json.dumps({"token": token, "conversations": ids}))


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


def stateless_request(app, token: str, model: str):
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return lambda _conversation, on_first=None: http_stream(
        app.port, "/api/v1/chat/stream/", body, {"Authorization": f"Bearer {token}"}, b"event: content",
        b"event: done", on_first)


async def measure(make, slots: list[str], quick: bool, cpu_seconds) -> dict:
    """TTFT @1 and @100, and CPU per chunk at saturation, for one path (`make(model)` builds its request)."""
    seq_count, load_seconds = (15, 6) if quick else (40, 10)
    await closed_loop(make("story-5-0"), slots, 20, 1.0, 0.2)  # warm up: imports, connections, caches
    single = await sequential(make("story-5-5"), slots[:5], seq_count)
    loaded = await closed_loop(make("story-200-20"), slots, 100, load_seconds, 4.0)
    await asyncio.sleep(0.5)
    before = cpu_seconds()
    saturated = await asyncio.gather(*(make("story-3000-0")(slot) for slot in slots[200:216]))
    cpu = cpu_seconds() - before
    chunks = sum(len(s.times) for s in saturated)
    return {"ttft1": [s.ttft for s in single if s.ttft is not None],
            "ttft100": [s.ttft for s in loaded if s.ttft is not None],
            "streams100": len(loaded), "failed100": sum(1 for s in loaded if not s.ok),
            "us_per_chunk": cpu / chunks * 1e6 if chunks else float("nan"),
            "failed_saturated": sum(1 for s in saturated if not s.ok)}


async def burst(make, slots: list[str], count: int) -> dict:
    """`count` replies started at the same moment; TTFT from that moment."""
    await closed_loop(make("story-5-0"), slots, 20, 1.0, 0.2)
    request = make("story-5-5")
    results = await asyncio.gather(*(request(slot) for slot in slots[300:300 + count]), return_exceptions=True)
    streams = [r for r in results if not isinstance(r, BaseException)]
    return {"ttft": [s.ttft for s in streams if s.ttft is not None],
            "failed": len(results) - sum(1 for s in streams if s.ok)}


def app_path(kind: str, app, token: str):
    if kind == "stateless":
        return lambda model: stateless_request(app, token, f"openai/{model}")
    return lambda model: sse_request(app, token, f"openai/{model}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--configs", default="sqlite,postgres")
    parser.add_argument("--skip-burst", action="store_true")
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--prepare", nargs=2, metavar=("CONFIG", "CONVERSATIONS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        _prepare_here(int(args.prepare[1]), args.prepare[0])
        return
    configs = args.configs.split(",")
    slots_needed = 300 + args.burst
    fake = start_fake()
    rows: dict[str, dict] = {}
    try:
        direct = asyncio.run(measure(lambda model: direct_request(fake, model), [str(i) for i in range(400)],
                                     args.quick, fake.cpu_seconds))
        direct_burst = None
        for config in configs:
            token, slots = prepare_database(slots_needed, config)
            app = start_app("uvicorn", fake, config)
            try:
                if config == configs[0]:
                    rows["stateless /chat/stream/"] = asyncio.run(
                        measure(app_path("stateless", app, token), slots, args.quick, app.cpu_seconds))
                rows[f"stored /completions/ ({config})"] = asyncio.run(
                    measure(app_path("stored", app, token), slots, args.quick, app.cpu_seconds))
            finally:
                app.stop()
            print(f"{config}: done", flush=True)
        if not args.skip_burst and "postgres" in configs:
            direct_burst = asyncio.run(burst(lambda model: direct_request(fake, model), [str(i) for i in range(
                slots_needed)], args.burst))
            token, slots = prepare_database(slots_needed, "postgres")
            group = AppGroup(fake, "postgres", 2)
            try:
                parley_burst = asyncio.run(burst(app_path("stored", group, token), slots, args.burst))
            finally:
                group.stop()
    finally:
        fake.stop()
    print(f"\nDirect to the fake in the same run: TTFT p50 {ms(pct(direct['ttft1'], .5))} ms @1, "
          f"p99 {ms(pct(direct['ttft100'], .99))} ms @100\n")
    print("| path | added TTFT p50 @1 | added TTFT p99 @100 | app CPU per upstream chunk | streams @100 (failed) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, r in rows.items():
        print(f"| {name} | {ms(pct(r['ttft1'], .5) - pct(direct['ttft1'], .5))} ms "
              f"| {ms(pct(r['ttft100'], .99) - pct(direct['ttft100'], .99))} ms "
              f"| {r['us_per_chunk']:.1f} µs | {r['streams100']} ({r['failed100'] + r['failed_saturated']}) |")
    if direct_burst is not None:
        print(f"\nBurst, {args.burst} stored replies at once, PostgreSQL + Redis, 2 web processes: TTFT p50 "
              f"{ms(pct(parley_burst['ttft'], .5))} ms, p99 {ms(pct(parley_burst['ttft'], .99))} ms "
              f"({parley_burst['failed']} failed); direct to the fake: p50 {ms(pct(direct_burst['ttft'], .5))} ms, "
              f"p99 {ms(pct(direct_burst['ttft'], .99))} ms")
    print("\nRaw (ms): " + json.dumps({name: {"ttft1_p50": ms(pct(r["ttft1"], .5)),
                                             "ttft100_p99": ms(pct(r["ttft100"], .99))}
                                      for name, r in {"direct": direct, **rows}.items()}))


if __name__ == "__main__":
    main()
