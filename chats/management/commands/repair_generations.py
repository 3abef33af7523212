"""Store generations a stopped server left `streaming` as `interrupted`, keeping their text."""
from datetime import timedelta

from django.core.management.base import BaseCommand

from chats.generations import generations_repair


class Command(BaseCommand):
    help = (
        "Mark generations left streaming by a crashed or killed server as interrupted (their text is kept). "
        "By default every one is repaired: run it while no web process is up, or pass --stale-after."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--stale-after", type=float, default=None, metavar="SECONDS",
            help="Only repair generations whose process sent no heartbeat for this long (safe with servers up).",
        )

    def handle(self, *args, stale_after=None, **options):
        repaired = generations_repair(stale_after=timedelta(seconds=stale_after) if stale_after is not None else None)
        self.stdout.write(f"Repaired {repaired} generation(s).")
