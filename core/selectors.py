"""Reads about the running service itself: whether its database, channel layer and broker answer."""
import logging
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout

from django.conf import settings
from django.db import connection

logger = logging.getLogger("parley.health")

_PROBE_TIMEOUT = 1.0
# How long the probes of long-lived threads may wait for them (busy with other work).
_SHARED_THREAD_TIMEOUT = 2.0


def _select_one() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _select_one_revalidated(*, release: bool) -> None:
    """On a long-lived thread, whose connection may have died with a database restart: checked (and replaced if
    dead) first, so an error means this thread cannot use the database now."""
    from django.db import close_old_connections

    from core.db import revalidate_connections

    revalidate_connections()
    try:
        _select_one()
    finally:
        if release:  # as after a request: CONN_MAX_AGE decides whether the connection stays open
            close_old_connections()


# Executors of one long-lived thread each whose database connection health checks too (asgiref's shared one always).
_database_executors: list = []


def register_database_executor(executor) -> None:
    """A single-thread executor whose thread keeps a database connection across requests (e.g. the generation
    engine's database threads): health then reports the database as usable only if that thread can query it."""
    if executor not in _database_executors:
        _database_executors.append(executor)


def _long_lived_threads_answer() -> bool:
    """Whether the process's long-lived threads can query the database: asgiref's shared thread (background work
    outside requests: lifespan tasks, sweepers, WebSocket handlers) and every registered one. A thread too busy to
    answer within the timeout is not held against the process."""
    from asgiref.sync import SyncToAsync

    probes = []
    for executor in [SyncToAsync.single_thread_executor, *_database_executors]:
        if threading.current_thread() in getattr(executor, "_threads", ()):
            continue  # this request runs there and has just queried the database
        # A registered thread keeps its connection on purpose; asgiref's is released as a request's would be.
        shared = executor is SyncToAsync.single_thread_executor
        probes.append(executor.submit(_select_one_revalidated, release=shared))
    deadline = time.monotonic() + _SHARED_THREAD_TIMEOUT
    answered = True
    for probe in probes:
        try:
            probe.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            logger.warning("Health check: a long-lived thread is busy; its database connection was not probed")
        except Exception:
            logger.warning("Health check: the database does not answer on a long-lived thread", exc_info=True)
            answered = False
    return answered


def database_status() -> str:
    """"ok" when the database answers this request and the process's long-lived threads, else "error"."""
    try:
        _select_one()
    except Exception:
        logger.warning("Health check: the database does not answer", exc_info=True)
        return "error"
    return "ok" if _long_lived_threads_answer() else "error"


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
