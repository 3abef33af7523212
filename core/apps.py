from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Parley core"

    def ready(self):
        from core.db import install_reconnect_hook
        from core.throttling import check_rate_settings

        install_reconnect_hook()

        check_rate_settings()  # a mistyped rate stops start-up with a clear message, not every request with a 500
