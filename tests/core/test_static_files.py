"""Static files are served by the app itself (WhiteNoise), through both the sync and the async stacks."""
import pytest


def test_static_file_is_served_sync(client, db):
    response = client.get("/static/css/app.css")
    assert response.status_code == 200
    assert b"".join(response.streaming_content)
    assert response["Content-Type"].startswith("text/css")


@pytest.mark.django_db
async def test_static_file_is_served_async(async_client):
    response = await async_client.get("/static/css/app.css")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")


@pytest.mark.django_db
async def test_missing_static_file_falls_through_to_404(async_client):
    response = await async_client.get("/static/css/no-such-file.css")
    assert response.status_code == 404


@pytest.mark.django_db
async def test_api_requests_pass_through(async_client):
    response = await async_client.get("/api/v1/health/")
    assert response.status_code == 200
    assert response.json()["status"] in {"ok", "degraded"}
