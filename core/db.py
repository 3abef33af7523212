"""Database connections that survive a database restart in long-lived threads, not only in request threads.

Django replaces a connection the server dropped only in `close_old_connections()`, which runs when a request starts
and ends (on that request's own thread) and when Channels dispatches a WebSocket message. A thread that outlives
requests (asgiref's shared executor behind every bare `sync_to_async` outside a request, such as lifespan tasks and
sweepers; a generation's database thread; a Celery task's inner loop) keeps its dead psycopg connection forever, and
every later query there fails with "the connection is closed". `reconnect_after_connection_loss` is installed on
every connection Django opens: once a query fails because the server is gone, the connection is closed, so the
next query of that thread connects again. `revalidate_connections()`, called by such a thread before a unit of
work, spares even that one failed query.
"""
import functools
import logging
import select
import time

from django.db import InterfaceError, OperationalError, connections
from django.db.backends.signals import connection_created

logger = logging.getLogger("parley.db")


def _driver_connection_lost(wrapper) -> bool:
    raw = wrapper.connection
    # psycopg marks a connection whose server went away `closed` (and `broken`); sqlite3 has neither.
    return raw is not None and bool(getattr(raw, "closed", False) or getattr(raw, "broken", False))


def reconnect_after_connection_loss(execute, sql, params, many, context):
    """Execute wrapper: a query that failed because the connection died closes Django's side of it too.

    Inside a transaction, Django's own close() marks the block for rollback and `atomic()` ends it cleanly; the query
    that failed is never retried here (it may have run before the connection dropped)."""
    try:
        return execute(sql, params, many, context)
    except (OperationalError, InterfaceError):
        wrapper = context["connection"]
        if _driver_connection_lost(wrapper):
            logger.warning("Lost the database connection (alias %s); the next query reconnects", wrapper.alias)
            wrapper.close()
        raise


def _install(sender, connection, **kwargs) -> None:
    if reconnect_after_connection_loss not in connection.execute_wrappers:
        connection.execute_wrappers.append(reconnect_after_connection_loss)


def install_reconnect_hook() -> None:
    """Called from CoreConfig.ready(): every connection Django opens, in any thread, gets the wrapper."""
    connection_created.connect(_install, dispatch_uid="parley.core.db.reconnect")


def revalidate_connections() -> None:
    """Before a unit of work on a long-lived thread: its next query first checks (SELECT 1) that the connection still
    works and reconnects if not, as Django does once per request. Uses CONN_HEALTH_CHECKS (on for PostgreSQL in
    config.settings.base); a no-op for connections without it, and inside a transaction (never reconnected there)."""
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.health_check_done = False


def revalidated(func):
    """`func`, revalidating its thread's connections first: for `sync_to_async(revalidated(func))` from code that
    runs outside a request (a reply's own task), which lands on asgiref's long-lived shared thread."""

    @functools.wraps(func)
    def call(*args, **kwargs):
        revalidate_connections()
        return func(*args, **kwargs)

    return call


def _server_spoke_while_idle(wrapper) -> bool:
    """Whether the server wrote to an idle connection (outside a query it never does, except to say it is going:
    "terminating connection", then EOF): one poll of the socket, no round trip. False where there is no socket."""
    raw = wrapper.connection
    fileno = getattr(raw, "fileno", None)
    if raw is None or fileno is None or getattr(raw, "closed", False):
        return False
    try:
        readable, _, _ = select.select([fileno()], [], [], 0)
    except (OSError, ValueError, TypeError):
        return True  # the socket is gone: let the health check find out and reconnect
    return bool(readable)


def revalidate_if_stale(state: dict, *, every: float) -> None:
    """The cheap form of `revalidate_connections()` for a hot path (each database call of a streaming request):
    a connection is checked with SELECT 1 only when its server wrote to it while it was idle (the sign of a
    restart or pg_terminate_backend), and every connection at most once per `every` seconds (a connection lost
    without a word, e.g. a network partition). `state` is the calling thread's own (last full revalidation)."""
    now = time.monotonic()
    due = now - state.get("at", 0.0) >= every
    if due:
        state["at"] = now
    for conn in connections.all(initialized_only=True):
        if conn.in_atomic_block or conn.connection is None:
            continue
        if due or _server_spoke_while_idle(conn):
            conn.health_check_done = False
