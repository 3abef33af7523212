"""The /v1 gateway relay's cost: Parley's OpenAI-compatible path against calling the fake provider directly.

    .venv/bin/python -m bench.gateway [--quick]

Same set-up as bench/chat_stream.py (whose helpers it reuses): the fake provider, the app under uvicorn (one
process, embedded defaults) and a raw asyncio HTTP/1.1 client, each in its own process on loopback. Measured in
one run, for `POST /v1/chat/completions` (stream, include_usage), for the stateless chat stream
`POST /api/v1/chat/stream/` as the reference Parley path, and for the same request sent to the fake directly:

- added time to first token, p50 at 1 stream (sequential requests) and p99 at 100 open streams (100 clients, each
  starting a new 4-second reply paced 20 ms as soon as its last one ended);
- CPU per relayed chunk: app-process CPU time over the chunks delivered at saturation (16 streams of 3,000
  unpaced chunks).
"""
import argparse
import asyncio
import json

from bench.chat_stream import (
    Process,
    closed_loop,
    direct_request,
    http_stream,
    ms,
    pct,
    prepare_database,
    sequential,
    start_app,
    start_fake,
)


def gateway_request(app: Process, token: str, model: str):
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True,
            "stream_options": {"include_usage": True}}
    return lambda _conversation, on_first=None: http_stream(
        app.port, "/v1/chat/completions", body, {"Authorization": f"Bearer {token}"}, b'"content":"w', b"[DONE]",
        on_first)


def stateless_request(app: Process, token: str, model: str):
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return lambda _conversation, on_first=None: http_stream(
        app.port, "/api/v1/chat/stream/", body, {"Authorization": f"Bearer {token}"}, b"event: content",
        b"event: done", on_first)


async def measure(make, slots: list[str], quick: bool, cpu_seconds) -> dict:
    seq_count, load_seconds = (15, 6) if quick else (40, 10)
    await closed_loop(make("story-5-0"), slots, 20, 1.0, 0.2)  # warm up: imports, connections, caches
    single = await sequential(make("story-5-5"), slots, seq_count)
    loaded = await closed_loop(make("story-200-20"), slots, 100, load_seconds, 4.0)
    before = cpu_seconds()
    saturated = await asyncio.gather(*(make("story-3000-0")(slot) for slot in slots[:16]))
    cpu = cpu_seconds() - before
    chunks = sum(len(s.times) for s in saturated)
    return {"ttft1": [s.ttft for s in single if s.ttft is not None],
            "ttft100": [s.ttft for s in loaded if s.ttft is not None],
            "streams100": len(loaded), "failed100": sum(1 for s in loaded if not s.ok),
            "us_per_chunk": cpu / chunks * 1e6 if chunks else float("nan"),
            "failed_saturated": sum(1 for s in saturated if not s.ok)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    args = parser.parse_args()
    token, slots = prepare_database(100)
    fake = start_fake()
    try:
        direct = asyncio.run(measure(lambda model: direct_request(fake, model), slots, args.quick, fake.cpu_seconds))
        app = start_app("uvicorn", fake)
        try:
            paths = {
                "gateway /v1/chat/completions": asyncio.run(measure(
                    lambda model: gateway_request(app, token, f"openai/{model}"), slots, args.quick,
                    app.cpu_seconds)),
                "stateless /api/v1/chat/stream/": asyncio.run(measure(
                    lambda model: stateless_request(app, token, f"openai/{model}"), slots, args.quick,
                    app.cpu_seconds)),
            }
        finally:
            app.stop()
    finally:
        fake.stop()
    print(f"\nDirect to the fake: TTFT p50 {ms(pct(direct['ttft1'], .5))} ms @1, "
          f"p99 {ms(pct(direct['ttft100'], .99))} ms @100\n")
    print("| path | added TTFT p50 @1 | added TTFT p99 @100 | app CPU per chunk | streams @100 (failed) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, r in paths.items():
        print(f"| {name} | {ms(pct(r['ttft1'], .5) - pct(direct['ttft1'], .5))} ms "
              f"| {ms(pct(r['ttft100'], .99) - pct(direct['ttft100'], .99))} ms "
              f"| {r['us_per_chunk']:.1f} µs | {r['streams100']} ({r['failed100'] + r['failed_saturated']}) |")
    print("\nRaw (ms): " + json.dumps({name: {"ttft1_p50": ms(pct(r["ttft1"], .5)),
                                             "ttft100_p99": ms(pct(r["ttft100"], .99))}
                                      for name, r in {"direct": direct, **paths}.items()}))


if __name__ == "__main__":
    main()
