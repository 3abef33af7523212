"""Compare wall time against the slowest single model, and merge dispatch latency to `running`.

    .venv/bin/python -m bench.compare_merge [--rounds 5]

Runs the whole app (uvicorn in a thread, embedded defaults: SQLite under var/, in-process tasks) against the
project's fake provider server, over real sockets. Targets: compare ≤ slowest single model + 5 %; merge
dispatch ≤ 20 ms from the POST to the job being `running`.
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


def setup_django():
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
        os.environ.pop(name, None)  # the embedded configuration
    os.environ["DATABASE_URL"] = f"sqlite:///{BENCH_DB}"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    BENCH_DB.unlink(missing_ok=True)
    call_command("migrate", verbosity=0, interactive=False)


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
    accepted, running = [], []
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
    return {"accepted_p50": statistics.median(accepted), "running_p50": statistics.median(running),
            "running_max": max(running)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    setup_django()
    import httpx

    from accounts.services import api_token_create
    from django.contrib.auth import get_user_model

    url, fake, server = start_servers()
    user = get_user_model().objects.create_user("bench", password="bench-password-123")
    _, token = api_token_create(user=user, name="bench")
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        compare = bench_compare(client, url, args.rounds)
        merge = bench_merge_dispatch(client, url, user, max(args.rounds * 4, 20))
    server.should_exit = True
    fake.stop()

    print(f"compare, median of {args.rounds} rounds (ms):")
    for model, value in compare["singles"].items():
        print(f"  {model:<26} alone {value:8.1f}")
    verdict = "OK" if compare["overhead_pct"] <= 5 else "OVER TARGET"
    print(f"  all {len(COMPARE_MODELS)} together            {compare['together']:8.1f}   slowest alone "
          f"{compare['slowest']:.1f}, sum {compare['sum']:.1f}; overhead {compare['overhead_pct']:+.1f} % "
          f"(target <= +5 %) {verdict}")
    verdict = "OK" if merge["running_p50"] <= 20 else "OVER TARGET"
    print(f"merge dispatch (ms): 202 after {merge['accepted_p50']:.1f} p50; running after "
          f"{merge['running_p50']:.1f} p50, {merge['running_max']:.1f} max (target <= 20) {verdict}")


if __name__ == "__main__":
    main()
