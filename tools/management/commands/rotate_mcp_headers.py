"""`manage.py rotate_mcp_headers`: re-encrypt every MCP server's headers (and stdio environment) under the newest key.

The companion of providers' `rotate_encryption_keys` (providers sits below tools and cannot know its rows):
run both after putting a new key first in PARLEY_ENCRYPTION_KEYS, then drop the old keys.
"""
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from core.encryption import SecretUndecryptable, rotate_secret


class Command(BaseCommand):
    help = "Re-encrypt every MCP server's stored headers under the newest of PARLEY_ENCRYPTION_KEYS."

    def handle(self, *args, **options):
        from tools.models import McpServer

        if not settings.PARLEY_ENCRYPTION_KEYS:
            raise CommandError("PARLEY_ENCRYPTION_KEYS is empty.")
        rotated, lost = 0, []
        with transaction.atomic():
            stored = McpServer.objects.select_for_update().exclude(encrypted_headers="", encrypted_env="")
            for server in stored.order_by("pk"):
                try:
                    for field in ("encrypted_headers", "encrypted_env"):
                        if getattr(server, field):
                            setattr(server, field, rotate_secret(getattr(server, field)))
                except SecretUndecryptable:
                    lost.append(f"MCP server id={server.pk} {server.name}")
                    continue
                server.save(update_fields=["encrypted_headers", "encrypted_env"])
                rotated += 1
        self.stdout.write(f"Re-encrypted the headers of {rotated} MCP server(s) under the newest key.")
        if lost:
            self.stdout.write(f"{len(lost)} no longer decrypt with any configured key; left as they are, their "
                              "owners are asked to enter them again:")
            for line in lost:
                self.stdout.write(f"  {line}")
