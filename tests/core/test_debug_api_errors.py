"""With DEBUG on, every /api/ path answers JSON errors, never Django's HTML debug page."""
import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.test import Client, override_settings
from django.urls import include, path

pytestmark = pytest.mark.django_db


def _boom(request):
    raise RuntimeError("a bug in a view")


def _missing(request):
    raise Http404("no such thing")


def _forbidden(request):
    raise PermissionDenied


urlpatterns = [
    path("api/v1/boom/", _boom), path("api/debug/boom/", _boom), path("api/debug/missing/", _missing),
    path("api/debug/forbidden/", _forbidden), path("", include("config.urls")),
]


@pytest.fixture
def debug_client(settings):
    settings.DEBUG = True
    return Client(raise_request_exception=False)


def assert_json_error(response, status: int, code: str):
    assert response.status_code == status
    assert response["Content-Type"] == "application/json", response.content[:200]
    assert response.json()["code"] == code


@pytest.mark.parametrize("url", ["/api/", "/api/v2/conversations/", "/api/nothing", "/api/v1/nothing/",
                                 "/api/schema/extra/"])
def test_unknown_api_paths_are_json_404s(debug_client, url):
    assert_json_error(debug_client.get(url), 404, "not_found")
    assert_json_error(debug_client.post(url, {}), 404, "not_found")


@override_settings(ROOT_URLCONF="tests.core.test_debug_api_errors")
def test_view_errors_under_api_are_json(debug_client, caplog):
    assert_json_error(debug_client.get("/api/v1/boom/"), 500, "server_error")
    assert_json_error(debug_client.get("/api/debug/boom/"), 500, "server_error")
    assert "a bug in a view" in caplog.text  # the traceback is logged, not shown
    assert_json_error(debug_client.get("/api/debug/missing/"), 404, "not_found")
    assert_json_error(debug_client.get("/api/debug/forbidden/"), 403, "permission_denied")


def test_pages_keep_djangos_debug_page(debug_client):
    response = debug_client.get("/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")
