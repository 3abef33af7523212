"""Compare wall time against the slowest single model, and merge dispatch latency to `running`.

    .venv/bin/python -m bench.compare_merge [--rounds 5]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_merge REDIS_URL=redis://127.0.0.1:6379/5 \
        .venv/bin/python -m bench.compare_merge --deployed

Runs the whole app (uvicorn in a thread) against the project's fake provider server, over real sockets: by
default on the embedded defaults (SQLite under var/, tasks on a thread of the web process); with --deployed on
PostgreSQL + Redis with merges on a real Celery worker process (as `make worker` runs it). Targets: compare ≤
slowest single model + 5 %; merge dispatch ≤ 20 ms from the POST to the job being `running`.
"""
import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = ROOT / "var" / "bench-compare-merge.sqlite3"

# Model ids of the fake provider: `story-N-D` streams N words D ms apart.
COMPARE_MODELS = ["openai/story-20-25", "anthropic/story-12-40", "gemini/story-30-15", "deepseek/story-16-30"]


def setup_django(deployed: bool):
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if deployed:
        if not (os.environ.get("DATABASE_URL", "").startswith("postgres") and os.environ.get("REDIS_URL")):
            sys.exit("--deployed needs DATABASE_URL (PostgreSQL) and REDIS_URL")
        _create_database(os.environ["DATABASE_URL"])
    else:
        for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
            os.environ.pop(name, None)
        os.environ["DATABASE_URL"] = f"sqlite:///{BENCH_DB}"
        BENCH_DB.unlink(missing_ok=True)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _create_database(url: str) -> None:
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')


def start_worker(fake):
    """`celery -A config worker` as `make worker` runs it (prefork, 2 processes), pointed at the fake."""
    import subprocess

    from config.celery_app import app
    from providers.registry import PROVIDERS

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for slug, spec in PROVIDERS.items():
        env[spec.base_url_env], env[spec.key_env] = f"{fake.url}/{slug}", f"bench-key-{slug}"
    app.control.purge()
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--concurrency", "2", "--loglevel", "warning",
         "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not app.control.ping(timeout=0.5):
        if worker.poll() is not None or time.monotonic() > deadline:
            sys.exit("the Celery worker did not start")
    return worker


def start_servers():
    import socket

    import uvicorn
    from django.conf import settings

    from providers.fake.server import FakeProviderServer
    from providers.registry import PROVIDERS

    fake = FakeProviderServer().start()
    settings.PARLEY_PROVIDER_ENV = {
        slug: {"api_key": f"bench-key-{slug}", "base_url": f"{fake.url}/{slug}"} for slug in PROVIDERS}

    from config.asgi import application

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(application, lifespan="on", log_level="warning", http="h11"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    host, port = sock.getsockname()
    return f"http://{host}:{port}", fake, server


def bench_compare(client, url: str, rounds: int) -> dict:
    def run(models):
        started = time.perf_counter()
        response = client.post(f"{url}/api/v1/compare/", json={"prompt": "Tell me a story", "models": models})
        elapsed = (time.perf_counter() - started) * 1000
        response.raise_for_status()
        assert all(r["error"] is None for r in response.json()["responses"]), response.text
        return elapsed

    run(COMPARE_MODELS)  # warm up connections and code paths
    singles = {m: [] for m in COMPARE_MODELS}
    together = []
    for _ in range(rounds):
        for model in COMPARE_MODELS:
            singles[model].append(run([model]))
        together.append(run(COMPARE_MODELS))
    single_medians = {m: statistics.median(v) for m, v in singles.items()}
    slowest = max(single_medians.values())
    combined = statistics.median(together)
    return {"singles": single_medians, "slowest": slowest, "together": combined,
            "sum": sum(single_medians.values()), "overhead_pct": (combined / slowest - 1) * 100}


def bench_merge_dispatch(client, url: str, user, rounds: int) -> dict:
    from chats.models import Conversation, Message
    from merging.models import MergeJob

    conversations = []
    for index in range(2):
        conversation = Conversation.objects.create(owner=user, title=f"bench {index}")
        Message.objects.create(conversation=conversation, role="user", content=f"Question {index}?")
        Message.objects.create(conversation=conversation, role="assistant", content=f"Answer {index}.")
        conversations.append(str(conversation.id))
    accepted, running, queued = [], [], []
    for index in range(rounds):
        sent = time.time()
        response = client.post(f"{url}/api/v1/merges/", json={
            "conversation_ids": conversations, "model": "openai/merge-tagged", "instructions": f"round {index}"})
        accepted.append((time.time() - sent) * 1000)
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        while True:
            job = MergeJob.objects.get(pk=job_id)
            if job.started_at is not None and job.finished:
                break
            time.sleep(0.005)
        assert job.status == "succeeded", job.error
        running.append((job.started_at.timestamp() - sent) * 1000)
        queued.append((job.started_at - job.created_at).total_seconds() * 1000)
    return {"accepted_p50": statistics.median(accepted), "running_p50": statistics.median(running),
            "running_max": max(running), "dispatch_p50": statistics.median(queued), "dispatch_max": max(queued)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--deployed", action="store_true", help="PostgreSQL + Redis + a Celery worker process")
    args = parser.parse_args()
    setup_django(args.deployed)
    import httpx
    from django.contrib.auth import get_user_model

    from accounts.services import api_token_create

    url, fake, server = start_servers()
    worker = start_worker(fake) if args.deployed else None
    user = get_user_model().objects.create_user(f"bench-{time.time_ns()}", password="bench-password-123")
    _, token = api_token_create(user=user, name="bench")
    try:
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
            compare = bench_compare(client, url, args.rounds)
            merge = bench_merge_dispatch(client, url, user, max(args.rounds * 4, 20))
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        server.should_exit = True
        fake.stop()

    print("configuration:", "PostgreSQL + Redis + Celery worker" if args.deployed else "embedded")

    print(f"compare, median of {args.rounds} rounds (ms):")
    for model, value in compare["singles"].items():
        print(f"  {model:<26} alone {value:8.1f}")
    verdict = "OK" if compare["overhead_pct"] <= 5 else "OVER TARGET"
    print(f"  all {len(COMPARE_MODELS)} together            {compare['together']:8.1f}   slowest alone "
          f"{compare['slowest']:.1f}, sum {compare['sum']:.1f}; overhead {compare['overhead_pct']:+.1f} % "
          f"(target <= +5 %) {verdict}")
    verdict = "OK" if merge["dispatch_p50"] <= 20 else "OVER TARGET"
    print(f"merge (ms, from the client's POST): 202 after {merge['accepted_p50']:.1f} p50; job running after "
          f"{merge['running_p50']:.1f} p50, {merge['running_max']:.1f} max")
    print(f"merge dispatch (ms, job stored -> running): {merge['dispatch_p50']:.1f} p50, "
          f"{merge['dispatch_max']:.1f} max (target <= 20) {verdict}")


if __name__ == "__main__":
    main()
