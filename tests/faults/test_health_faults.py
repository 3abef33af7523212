"""GET /api/v1/health/ of a web process through real faults: what it reports while Redis or PostgreSQL is down is
what the process can use, and it says so again once they are back (no restart)."""
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


def test_health_reports_the_database_down_and_back(start_web_process, test_database):
    web = start_web_process()
    assert get_json(f"{web.url}/api/v1/health/")[1]["database"] == "ok"
    with test_database.down():
        status, body = get_json(f"{web.url}/api/v1/health/")
        assert status == 503 and body["database"] == "error" and body["status"] == "degraded"
    # asgiref's shared thread held a connection since start-up (the lifespan's repair) that the outage killed: health
    # asks that thread too, and it has connected again.
    status, body = get_json(f"{web.url}/api/v1/health/")
    assert status == 200 and body["database"] == "ok" and body["status"] == "ok"
