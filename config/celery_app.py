"""The Celery application; tasks are discovered in each app's tasks.py."""
import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("parley")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.celeryd_init.connect
@signals.beat_init.connect
def refuse_to_start_without_a_broker(**kwargs):
    """Without a broker Celery would wait, idle, on its default AMQP URL while the web process runs the tasks."""
    from django.conf import settings

    if not settings.CELERY_BROKER_URL:
        raise SystemExit(
            "Parley's worker needs a broker: set CELERY_BROKER_URL or REDIS_URL (e.g. redis://127.0.0.1:6379/0). "
            "Without one, tasks run in the web process and no worker is needed."
        )
