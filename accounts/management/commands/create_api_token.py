"""`manage.py create_api_token USERNAME [--create-user]`: prints a new personal API token as its last word."""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.services import api_token_create


class Command(BaseCommand):
    help = "Create a personal API token for USERNAME and print it (shown this once)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--create-user", action="store_true", help="Create the user (with no usable password) if missing."
        )
        parser.add_argument("--name", default="cli", help="A name for the token (default: cli).")

    @transaction.atomic
    def handle(self, *args, username, create_user, name, **options):
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            if not create_user:
                raise CommandError(f"No user named '{username}'. Pass --create-user to create one.")
            user = User(username=username)
            user.set_unusable_password()
            user.save()
            self.stderr.write(f"Created user '{username}' (no password; it signs in with tokens only).")
        elif not user.is_active:
            raise CommandError(f"User '{username}' is inactive.")
        _, raw = api_token_create(user=user, name=name)
        self.stdout.write(f"API token for {username}: {raw}")
