from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Parley core"

    def ready(self):
        from core.throttling import check_rate_settings

        check_rate_settings()  # a mistyped rate stops start-up with a clear message, not every request with a 500
