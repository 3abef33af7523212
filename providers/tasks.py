"""Celery tasks of the providers layer: the periodic model-catalog refresh."""
from celery import shared_task


@shared_task(name="providers.tasks.refresh_catalog", ignore_result=True)
def refresh_catalog(providers: list[str] | None = None) -> dict[str, str]:
    from providers.services import catalog_refresh

    return catalog_refresh(user_id=None, providers=providers)
