"""`manage.py rotate_encryption_keys`: re-encrypt every stored secret under the newest key."""
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from core.encryption import SecretUndecryptable, rotate_secret


class Command(BaseCommand):
    help = (
        "Re-encrypt every provider key and custom endpoint key under the newest of PARLEY_ENCRYPTION_KEYS "
        "(put the new key first, keep the old ones after it, run this, then drop the old ones)."
    )

    def handle(self, *args, **options):
        from providers.models import CustomEndpoint, ProviderKey

        if not settings.PARLEY_ENCRYPTION_KEYS:
            raise CommandError("PARLEY_ENCRYPTION_KEYS is empty.")
        rotated = 0
        lost: list[str] = []
        with transaction.atomic():
            for model, what in ((ProviderKey, "provider key"), (CustomEndpoint, "custom endpoint")):
                for row in model.objects.select_for_update().exclude(encrypted_secret="").order_by("pk"):
                    try:
                        row.encrypted_secret = rotate_secret(row.encrypted_secret)
                    except SecretUndecryptable:
                        name = getattr(row, "provider", None) or getattr(row, "slug", "")
                        lost.append(f"{what} id={row.pk} {name} {row.hint}")
                        continue
                    row.save(update_fields=["encrypted_secret"])
                    rotated += 1
        self.stdout.write(f"Re-encrypted {rotated} secret(s) under the newest key.")
        if lost:
            self.stdout.write(
                f"{len(lost)} secret(s) no longer decrypt with any configured key; left as they are, "
                "their owners are asked to enter them again:"
            )
            for line in lost:
                self.stdout.write(f"  {line}")
