from django.apps import AppConfig


class MergingConfig(AppConfig):
    name = "merging"
    verbose_name = "Compare and merge"

    def ready(self):
        from django.conf import settings

        from core.lifespan import on_startup
        from core.periodic import register_periodic
        from merging.services import merge_jobs_sweep

        on_startup(merge_jobs_startup)
        # Every web process sweeps (beat does too, when it runs): a merge whose worker died, or that the broker
        # refused, is queued again within PARLEY_MERGE_STALE_SECONDS.
        register_periodic("merge-sweep", merge_jobs_sweep,
                          interval=lambda: max(0.5, settings.PARLEY_MERGE_STALE_SECONDS / 4))


async def merge_jobs_startup() -> None:
    """In the embedded configuration (one process, no broker) merge jobs run on this process's threads: pick up
    the ones its previous life left unfinished."""
    from asgiref.sync import sync_to_async

    from chats.generations.persistence import shared_channel_layer
    from merging.services import merge_jobs_resume

    if shared_channel_layer() is None:
        await sync_to_async(merge_jobs_resume)()
