"""`manage.py fakeprovider --port N`: serve the fake model provider on loopback for demos and tests."""
import socket

from django.core.management.base import BaseCommand

from providers.registry import PROVIDERS


class Command(BaseCommand):
    help = "Serve the fake model provider (every wire protocol, scripted by model name) on loopback."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=9100, help="0 picks a free port (printed on start).")
        parser.add_argument("--host", default="127.0.0.1")

    def handle(self, *args, host: str, port: int, **options):
        import uvicorn

        from providers.fake.server import FakeProviderApp

        # Bind first, so that --port 0 can print the port it got.
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        port = sock.getsockname()[1]
        url = f"http://{host}:{port}"
        # Everything printed can be pasted into .env as it is: one KEY=value per line, the rest comments.
        self.stdout.write(f"# Fake provider on {url}. Paste these lines into .env (or export them):")
        for slug, spec in PROVIDERS.items():
            self.stdout.write(f"{spec.base_url_env}={url}/{slug}")
            if spec.key_env:
                self.stdout.write(f"{spec.key_env}=fake-{slug}")
        self.stdout.write(f"DEEPGRAM_BASE_URL={url}/deepgram")
        self.stdout.write("DEEPGRAM_API_KEY=fake-deepgram")
        self.stdout.write("PARLEY_DEFAULT_MODEL=openai/echo")
        self.stdout.write("# Models: echo, story-N-D, think-N-D, tools, weather, cite, utf8, fail-after-N, "
                          "truncate-after-N, ratelimit, ratelimit-once, overloaded, badkey, nocredit, notjson, "
                          "slow-first-D, describe;")
        self.stdout.write("# merges: merge-tagged (answers in the merge format), merge-json, merge-garbage.")
        self.stdout.flush()
        config = uvicorn.Config(FakeProviderApp(), log_level="warning", lifespan="off", ws="websockets-sansio")
        uvicorn.Server(config).run(sockets=[sock])
