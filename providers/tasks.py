"""Celery tasks of the providers layer: the periodic (shared) model-catalog refresh, and a user's own lists."""
from celery import shared_task


@shared_task(name="providers.tasks.refresh_catalog", ignore_result=True)
def refresh_catalog(providers: list[str] | None = None, user_id: int | None = None) -> dict[str, str]:
    from providers.services import catalog_refresh

    return catalog_refresh(user_id=user_id, providers=providers)
