"""One Content-Security-Policy on every response: pages, admin, API docs, JSON, static files and error pages."""
import pytest
from django.test import Client, override_settings
from django.urls import path

pytestmark = pytest.mark.django_db


def _boom(request):
    raise RuntimeError("a bug in a view")


urlpatterns = [path("boom/", _boom), path("api/v1/boom/", _boom)]
handler500 = "core.views.server_error"


def directives(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy")
    assert header, f"{response.request['PATH_INFO']} has no Content-Security-Policy"
    parsed = {}
    for part in header.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def assert_strict(response, *, extra_images=()):
    policy = directives(response)
    assert policy["script-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    # No image of another host: a model's markdown cannot turn an <img> into a request carrying the chat.
    assert set(policy["img-src"]) <= {"'self'", "data:", "blob:", *extra_images}
    assert "https:" not in policy["default-src"] and "*" not in policy["default-src"]


@pytest.mark.parametrize("url", [
    "/login/", "/signup/", "/admin/login/", "/api/docs/", "/api/docs/?script=", "/api/redoc/", "/api/schema/",
    "/api/v1/health/", "/api/v1/conversations/", "/static/js/app.js", "/no-such-page/", "/api/v1/no-such-thing/",
])
def test_every_kind_of_response_carries_the_policy(client, url):
    response = client.get(url)
    assert response.status_code in {200, 302, 401, 403, 404}
    # ReDoc's page (no user content) may show its maker's logo.
    assert_strict(response, extra_images={"https://cdn.redoc.ly"} if url == "/api/redoc/" else ())


def test_signed_in_pages_and_admin_carry_the_policy(client, admin_user):
    client.force_login(admin_user)
    for url in ["/", "/compare/", "/merge/", "/settings/keys/", "/admin/", "/admin/auth/user/"]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_strict(response)


@override_settings(ROOT_URLCONF="tests.security.test_csp")
def test_server_errors_carry_the_policy():
    client = Client(raise_request_exception=False)
    page = client.get("/boom/")
    assert page.status_code == 500 and b"<html" in page.content.lower()
    assert_strict(page)
    api = client.get("/api/v1/boom/")
    assert api.status_code == 500 and api.json()["code"] == "server_error"
    assert_strict(api)


def test_swagger_ui_has_no_inline_script(client):
    page = client.get("/api/docs/").content.decode()
    assert "<script>" not in page and 'src="/api/docs/?script="' in page
    script = client.get("/api/docs/?script=")
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()
