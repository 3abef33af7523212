from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Parley core"

    def ready(self):
        from core.db import install_reconnect_hook
        from core.throttling import check_rate_settings

        install_reconnect_hook()

        check_rate_settings()  # a mistyped rate stops start-up with a clear message, not every request with a 500

        from django.core.signals import setting_changed

        from core import local_cache
        from core.lifespan import on_shutdown, on_startup

        setting_changed.connect(local_cache._on_setting_changed, dispatch_uid="parley-local-cache")
        on_startup(local_cache.start_listening)
        on_shutdown(local_cache.stop_listening)
