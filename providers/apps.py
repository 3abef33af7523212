from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    name = "providers"
    verbose_name = "Providers, keys and model catalog"

    def ready(self):
        from core.api.views import add_health_details

        add_health_details(_health_details)

        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_delete, post_save

        from providers.models import CustomEndpoint, ProviderKey

        # Routes carry the key and endpoint they were resolved with (and whether the endpoint's owner is staff).
        for model in (ProviderKey, CustomEndpoint, get_user_model()):
            post_save.connect(_routes_changed, sender=model, dispatch_uid=f"parley-route-cache-save-{model.__name__}")
            post_delete.connect(_routes_changed, sender=model,
                                dispatch_uid=f"parley-route-cache-delete-{model.__name__}")


def _routes_changed(**kwargs) -> None:
    from core.local_cache import invalidate

    invalidate("provider_routes")


def _health_details(*, user, database_ok: bool) -> dict:
    """The health endpoint tells a signed-in caller which providers are configured for them."""
    from providers.selectors import configured_providers

    return {"providers": configured_providers(user_id=user.pk) if database_ok else {}}
