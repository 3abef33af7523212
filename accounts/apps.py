from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and API tokens"

    def ready(self):
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_delete, post_save

        from accounts import schema  # noqa: F401 - registers the OpenAPI auth extension
        from accounts.models import ApiToken

        # A revoked token, or a user deactivated or deleted, must stop working at once in every process.
        for model in (ApiToken, get_user_model()):
            post_save.connect(_tokens_changed, sender=model, dispatch_uid=f"parley-token-cache-save-{model.__name__}")
            post_delete.connect(_tokens_changed, sender=model,
                                dispatch_uid=f"parley-token-cache-delete-{model.__name__}")


def _tokens_changed(**kwargs) -> None:
    from core.local_cache import invalidate

    invalidate("api_tokens")
