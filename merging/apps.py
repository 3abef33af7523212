from django.apps import AppConfig


class MergingConfig(AppConfig):
    name = "merging"
    verbose_name = "Compare and merge"

    def ready(self):
        from core.lifespan import on_startup

        on_startup(merge_jobs_startup)


async def merge_jobs_startup() -> None:
    """In the embedded configuration (one process, no broker) merge jobs run on this process's threads: pick up
    the ones its previous life left unfinished."""
    from asgiref.sync import sync_to_async

    from chats.generations.persistence import shared_channel_layer
    from merging.services import merge_jobs_resume

    if shared_channel_layer() is None:
        await sync_to_async(merge_jobs_resume)()
