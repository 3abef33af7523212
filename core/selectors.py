"""Reads about the running service itself: whether its database, channel layer and broker answer."""
import logging

from django.conf import settings
from django.db import connection

logger = logging.getLogger("parley.health")

_PROBE_TIMEOUT = 1.0


def database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.warning("Health check: the database does not answer", exc_info=True)
        return "error"
    return "ok"


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
