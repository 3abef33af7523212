from django.apps import AppConfig


class ChatsConfig(AppConfig):
    name = "chats"
    verbose_name = "Conversations"

    def ready(self):
        from chats.lifespan import generations_startup, generations_teardown
        from core.lifespan import on_shutdown, on_startup

        on_startup(generations_startup)
        on_shutdown(generations_teardown)
