from django.apps import AppConfig


class ChatsConfig(AppConfig):
    name = "chats"
    verbose_name = "Conversations"

    def ready(self):
        from chats.lifespan import (
            SWEEP_SECONDS,
            generations_startup,
            generations_stop_requested,
            generations_sweep,
            generations_teardown,
        )
        from core.lifespan import on_shutdown, on_startup, on_stop_requested
        from core.periodic import register_periodic

        on_startup(generations_startup)
        on_shutdown(generations_teardown)
        on_stop_requested(generations_stop_requested)
        register_periodic("generations-sweep", generations_sweep, interval=lambda: SWEEP_SECONDS)

        from core.api.views import add_health_details

        add_health_details(_health_details)


def _health_details(*, user, database_ok: bool) -> dict:
    """The health endpoint tells a signed-in caller how many conversations and messages they have."""
    from chats.selectors import conversation_counts

    return conversation_counts(user=user) if database_ok else {}
