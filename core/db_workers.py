"""Blocking database work of async code on a few long-lived threads, each keeping its connection."""
import asyncio
import functools
import itertools
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.db import DatabaseError, connections

from core import selectors
from core.db import revalidate_if_stale

# A worker's connections are checked with SELECT 1 at most this often, besides when the server wrote to them while
# they were idle (a restart, pg_terminate_backend): see core.db.revalidate_if_stale.
REVALIDATE_EVERY_SECONDS = 30.0
_revalidation = threading.local()


def with_connection(fn, args):
    """Call `fn(*args)` on a thread that keeps its connection (a new one per call would cost more than the call).
    A connection the database dropped while the thread was idle is replaced before the call (a database restart
    costs the next reply nothing); after a database error the connections are dropped, so the next call reconnects."""
    state = getattr(_revalidation, "state", None)
    if state is None:
        state = _revalidation.state = {}
    revalidate_if_stale(state, every=REVALIDATE_EVERY_SECONDS)
    try:
        return fn(*args)
    except DatabaseError:
        connections.close_all()
        raise


# Database work of streaming requests runs on a few long-lived threads of ours, not on the per-request thread
# asgiref gives each request (a streaming one keeps it, and a fresh connection, for as long as it streams).
DB_WORKERS = 4
_db_workers = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"parley-db{i}") for i in range(DB_WORKERS)]
_db_turn = itertools.count()
for _worker in _db_workers:  # health reports the database usable only if these threads can query it
    selectors.register_database_executor(_worker)

# Loops of an ASGI server that ran our lifespan start-up: only there are the worker threads used. Elsewhere (the
# Django test client, a server without lifespan) sync_to_async keeps Django's own thread and transaction rules.
_server_loops: "weakref.WeakSet[asyncio.AbstractEventLoop]" = weakref.WeakSet()


def use_db_workers(loop: asyncio.AbstractEventLoop, enabled: bool = True) -> None:
    if enabled:
        _server_loops.add(loop)
    else:
        _server_loops.discard(loop)


async def db_call(fn, *args, _thread: ThreadPoolExecutor | None = None, **kwargs):
    """Run blocking database code for a streaming request, on one of the worker threads in a server (or on
    `_thread`, a dedicated one, for work that must not queue behind the requests')."""
    call = functools.partial(fn, **kwargs) if kwargs else fn
    loop = asyncio.get_running_loop()
    if loop not in _server_loops:
        return await sync_to_async(call)(*args)
    worker = _thread or _db_workers[next(_db_turn) % DB_WORKERS]
    return await loop.run_in_executor(worker, with_connection, call, args)


def dedicated_thread(name: str) -> ThreadPoolExecutor:
    """A database thread of its own (its connection closed with the workers')."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
    _dedicated.append(executor)
    selectors.register_database_executor(executor)
    return executor


_dedicated: list[ThreadPoolExecutor] = []


def close_worker_connections() -> None:
    """Close the worker threads' connections (server shutdown, end of a test)."""
    for executor in (*_db_workers, *_dedicated):
        executor.submit(connections.close_all).result()
