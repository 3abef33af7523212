"""Decode + translate cost per streamed chunk, for each wire protocol (target: under 15 µs per chunk).

    .venv/bin/python -m bench.providers_decode [--chunks 20000] [--rounds 5]

Feeds the bytes the fake provider would send (the same framing as the real providers: OpenAI-style
chunks with usage and [DONE], Anthropic events with pings, Gemini CRLF events) through the SSE decoder
and each adapter's translator, in network-sized reads that cut events at arbitrary places. No sockets:
this measures Parley's own per-chunk work on the hot path, as CPU time of the thread (so that other
load on a shared machine does not inflate it).
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

READ_SIZE = 1400  # about one TCP segment per read


def setup_django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def recorded_stream(protocol: str, slug: str, chunks: int) -> bytes:
    from providers.fake import wire
    from providers.fake.scripts import Plan

    # Realistic deltas: a few words each, some non-ASCII, a reasoning prelude.
    words = ["The ", "quick ", "brown ", "fox — ", "jumps ", "über ", "the ", "lazy ", "dog. "]
    plan = Plan(reasoning=[f"step {i} " for i in range(chunks // 10)],
                text=[words[i % len(words)] for i in range(chunks)])
    if protocol == "anthropic_messages":
        items = wire.anthropic_stream(plan, model="bench", prompt_tokens=100)
    elif protocol == "gemini_generate":
        items = wire.gemini_stream(plan, model="bench", prompt_tokens=100)
    else:
        items = wire.openai_stream(plan, slug=slug, model="bench", include_usage=True, prompt_tokens=100)
    return b"".join(item for item in items if isinstance(item, bytes))


def run_once(adapter, route, data: bytes) -> tuple[float, int]:
    from providers.events import EventKind
    from providers.sse import SSEDecoder

    reads = [data[i:i + READ_SIZE] for i in range(0, len(data), READ_SIZE)]
    start = time.thread_time()  # CPU time of this thread: other processes on a busy machine do not count
    decoder, translator, events, finished = SSEDecoder(), adapter.translator(route), 0, False
    for read in reads:
        for sse in decoder.feed(read):
            for event in translator.feed(sse):
                events += 1
                finished = event.kind is EventKind.FINISH
    elapsed = time.thread_time() - start
    assert finished, "the stream did not end with FINISH"
    return elapsed, events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    setup_django()
    from providers.base import Route
    from providers.registry import get_adapter

    cases = [("openai_chat", "openai"), ("openai_chat", "openrouter"), ("openai_chat", "deepseek"),
             ("anthropic_messages", "anthropic"), ("gemini_generate", "gemini")]
    print(f"{'protocol (vendor)':32} {'chunks':>8} {'µs/chunk (median)':>18} {'best':>8}")
    worst = 0.0
    for protocol, slug in cases:
        data = recorded_stream(protocol, slug, args.chunks)
        route = Route(provider=slug, model=f"{slug}/bench", model_id="bench", base_url="http://bench", api_key="k",
                      protocol=protocol)
        adapter = get_adapter(protocol)
        per_chunk = []
        for _ in range(args.rounds):
            elapsed, events = run_once(adapter, route, data)
            per_chunk.append(elapsed / events * 1e6)
        median = statistics.median(per_chunk)
        worst = max(worst, median)
        print(f"{protocol + ' (' + slug + ')':32} {events:>8} {median:>18.2f} {min(per_chunk):>8.2f}")
    print(f"worst median: {worst:.2f} µs/chunk (target < 15 µs) -> {'OK' if worst < 15 else 'OVER TARGET'}")


if __name__ == "__main__":
    main()
