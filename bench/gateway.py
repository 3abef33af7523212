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
    direct_request,
    http_stream,
    measure,
    ms,
    pct,
    prepare_database,
    start_app,
    start_fake,
    stateless_request,
)


def gateway_request(app: Process, token: str, model: str):
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True,
            "stream_options": {"include_usage": True}}
    return lambda _conversation, on_first=None: http_stream(
        app.port, "/v1/chat/completions", body, {"Authorization": f"Bearer {token}"}, b'"content":"w', b"[DONE]",
        on_first)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    args = parser.parse_args()
    token, slots = prepare_database(216)  # chat_stream's measure takes slots 200-215 for saturation
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
