"""Reads about the running service itself: whether its database, channel layer and broker answer."""
import logging
import threading
from concurrent.futures import TimeoutError as FutureTimeout

from django.conf import settings
from django.db import connection

logger = logging.getLogger("parley.health")

_PROBE_TIMEOUT = 1.0
# How long the probe of asgiref's shared thread may wait for that thread (busy with other work).
_SHARED_THREAD_TIMEOUT = 2.0


def _select_one() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _select_one_revalidated() -> None:
    """On a long-lived thread, whose connection may have died with a database restart: checked (and replaced if
    dead) first, so an error means this thread cannot use the database now."""
    from django.db import close_old_connections

    from core.db import revalidate_connections

    revalidate_connections()
    try:
        _select_one()
    finally:
        close_old_connections()  # as after a request: CONN_MAX_AGE decides whether the connection stays open


def _shared_thread_answers() -> bool:
    """Whether asgiref's shared thread (where this process's background work outside requests queries the database:
    lifespan tasks, sweepers, WebSocket handlers) can query it; a busy thread is not held against the process."""
    from asgiref.sync import SyncToAsync

    executor = SyncToAsync.single_thread_executor
    if threading.current_thread() in getattr(executor, "_threads", ()):
        return True  # this request already runs there and has just queried the database
    try:
        executor.submit(_select_one_revalidated).result(timeout=_SHARED_THREAD_TIMEOUT)
    except FutureTimeout:
        logger.warning("Health check: asgiref's shared thread is busy; its database connection was not probed")
        return True
    except Exception:
        logger.warning("Health check: the database does not answer on asgiref's shared thread", exc_info=True)
        return False
    return True


def database_status() -> str:
    """"ok" when the database answers this request and the process's long-lived thread, else "error"."""
    try:
        _select_one()
    except Exception:
        logger.warning("Health check: the database does not answer", exc_info=True)
        return "error"
    return "ok" if _shared_thread_answers() else "error"


def _redis_answers(url: str) -> bool:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=_PROBE_TIMEOUT, socket_connect_timeout=_PROBE_TIMEOUT)
    try:
        return bool(client.ping())
    except Exception:
        logger.warning("Health check: Redis does not answer")
        return False
    finally:
        client.close()


def channel_layer_status() -> str:
    """"in-memory", "redis", or "redis-unreachable"."""
    backend = settings.CHANNEL_LAYERS["default"]["BACKEND"]
    if backend.endswith("InMemoryChannelLayer"):
        return "in-memory"
    return "redis" if _redis_answers(settings.REDIS_URL) else "redis-unreachable"


def broker_status() -> str:
    """"embedded" (tasks run in-process), "redis", or "redis-unreachable"."""
    url = settings.CELERY_BROKER_URL
    if not url:
        return "embedded"
    if url.startswith(("redis://", "rediss://", "unix://")):
        return "redis" if _redis_answers(url) else "redis-unreachable"
    from config.celery_app import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=_PROBE_TIMEOUT)
    except Exception:
        logger.warning("Health check: the broker does not answer")
        return "unreachable"
    return "ok"
