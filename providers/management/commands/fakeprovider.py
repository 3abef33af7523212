"""`manage.py fakeprovider --port N`: serve the fake model provider on loopback for demos and tests."""
from django.core.management.base import BaseCommand

from providers.registry import PROVIDERS


class Command(BaseCommand):
    help = "Serve the fake model provider (every wire protocol, scripted by model name) on loopback."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=9100)
        parser.add_argument("--host", default="127.0.0.1")

    def handle(self, *args, host: str, port: int, **options):
        import uvicorn

        from providers.fake.server import FakeProviderApp

        url = f"http://{host}:{port}"
        self.stdout.write(f"Fake provider on {url}. Point Parley at it with:")
        for slug, spec in PROVIDERS.items():
            self.stdout.write(f"  {spec.base_url_env}={url}/{slug} {spec.key_env}=fake-{slug}")
        self.stdout.write("Models: echo, story-N-D, think-N-D, tools, cite, utf8, fail-after-N, truncate-after-N, "
                          "ratelimit, ratelimit-once, overloaded, badkey, nocredit, notjson, slow-first-D.")
        uvicorn.run(FakeProviderApp(), host=host, port=port, log_level="warning", lifespan="off", ws="none")
