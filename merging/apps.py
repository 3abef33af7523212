from django.apps import AppConfig


class MergingConfig(AppConfig):
    name = "merging"
    verbose_name = "Compare and merge"

    def ready(self):
        from django.conf import settings

        from core.periodic import register_periodic
        from merging.services import merge_jobs_sweep

        # Every web process sweeps (beat does too, when it runs): a merge whose worker died, or that the broker
        # refused, is queued again within PARLEY_MERGE_STALE_SECONDS.
        register_periodic("merge-sweep", merge_jobs_sweep,
                          interval=lambda: max(0.5, settings.PARLEY_MERGE_STALE_SECONDS / 4))
