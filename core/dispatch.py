"""Runs a Celery task after the current transaction commits: on the broker, or in-process on a thread."""
import logging
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from django.conf import settings
from django.db import close_old_connections, transaction

logger = logging.getLogger("parley.dispatch")


@lru_cache(maxsize=1)
def _executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="parley-task")


def _run_in_process(task, args, kwargs):
    close_old_connections()
    try:
        task.apply(args=args, kwargs=kwargs, throw=False)
    except Exception:  # a task's failure must not kill the pool thread
        logger.exception("In-process task %s failed", task.name)
    finally:
        close_old_connections()


def send_task(task, *args, **kwargs) -> None:
    """Queue `task` now: on the broker (raises when the broker refuses it), or on this process's pool."""
    if settings.CELERY_BROKER_URL:
        task.apply_async(args=args, kwargs=kwargs)
    else:
        _executor().submit(_run_in_process, task, args, kwargs)


def dispatch_task(task, *args, **kwargs) -> None:
    """Queue `task` once the surrounding transaction commits; never blocks the request."""
    transaction.on_commit(lambda: send_task(task, *args, **kwargs))
