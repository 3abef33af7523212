"""Fixtures of the security tests: an admin's API client, a browser-like session client, and tests/ui's
Chromium fixtures for the checks that need a real browser."""
import pytest
from django.test import Client

from tests.ui.conftest import _orm_beside_playwright, browser, live, new_page, shot, ui_user  # noqa: F401


@pytest.fixture
def admin_user(make_user):
    return make_user("root", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_api(admin_user):
    from tests.conftest import token_client

    return token_client(admin_user)


@pytest.fixture
def session(user) -> Client:
    """Alice signed in with the session cookie, CSRF enforced as in a browser."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/")  # the page sets the CSRF cookie
    return client
