"""GET /api/v1/health/ of a web process through real faults: what it reports while Redis or PostgreSQL is down is
what the process can use, and it says so again once they are back (no restart)."""
import contextlib

import pytest

from tests.fixtures.faults import get_json

pytestmark = pytest.mark.services


def test_health_reports_redis_down_and_back(private_redis, start_web_process):
    web = start_web_process(REDIS_URL=private_redis.url())
    assert get_json(f"{web.url}/api/v1/health/") == (200, {
        "status": "ok", "version": "1.0.0", "database": "ok", "channel_layer": "redis", "broker": "redis"})

    private_redis.stop()
    status, body = get_json(f"{web.url}/api/v1/health/")
    assert status == 200 and body["status"] == "degraded" and body["database"] == "ok"
    assert body["channel_layer"] == "redis-unreachable" and body["broker"] == "redis-unreachable"

    private_redis.start()
    status, body = get_json(f"{web.url}/api/v1/health/")
    assert status == 200 and body["status"] == "ok"
    assert body["channel_layer"] == "redis" and body["broker"] == "redis"


def test_health_reports_the_database_down_and_back(start_web_process, test_database, auth):
    web = start_web_process()  # DEBUG off (the DEBUG-on case: test_database_restart.py)
    assert get_json(f"{web.url}/api/v1/health/")[1]["database"] == "ok"
    with test_database.down():
        status, body = get_json(f"{web.url}/api/v1/health/")
        assert status == 503 and body["database"] == "error" and body["status"] == "degraded"
        assert get_json(f"{web.url}/api/v1/conversations/", headers=auth) == (503, {
            "detail": "The database is unavailable; try again shortly.", "code": "database_unavailable"})
    # asgiref's shared thread held a connection since start-up (the lifespan's repair) that the outage killed: health
    # asks that thread too, and it has connected again.
    status, body = get_json(f"{web.url}/api/v1/health/")
    assert status == 200 and body["database"] == "ok" and body["status"] == "ok"


def test_health_reports_a_long_lived_thread_that_cannot_use_the_database(client, test_database):
    """A registered database thread stuck in a transaction whose connection was killed cannot query until that
    transaction ends: health says so (the request's own fresh connection would say ok), then recovers."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import DatabaseError, connection, transaction

    from core import selectors

    thread = ThreadPoolExecutor(max_workers=1)
    block = transaction.atomic()

    def begin():
        block.__enter__()
        connection.cursor().execute("SELECT 1")

    def end():
        block.__exit__(None, None, None)

    selectors.register_database_executor(thread)
    try:
        thread.submit(begin).result()
        assert client.get("/api/v1/health/").json()["database"] == "ok"
        test_database.terminate_connections()
        response = client.get("/api/v1/health/")
        assert response.status_code == 503 and response.json()["database"] == "error"
        with contextlib.suppress(DatabaseError):  # ending the dead transaction may raise; the thread is free again
            thread.submit(end).result()
        response = client.get("/api/v1/health/")
        assert response.status_code == 200 and response.json()["database"] == "ok"
    finally:
        selectors._database_executors.remove(thread)
        # Health's probe left that thread's connection open, as it should for a registered thread.
        thread.submit(lambda: connection.close()).result()
        thread.shutdown()
