"""Fixtures of the security tests: an admin's API client, and a browser-like session client."""
import pytest
from django.test import Client


@pytest.fixture
def admin_user(make_user):
    return make_user("root", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_api(admin_user):
    from tests.conftest import token_client

    return token_client(admin_user)


@pytest.fixture
def browser(user) -> Client:
    """Alice signed in with the session cookie, CSRF enforced as in a browser."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/")  # the page sets the CSRF cookie
    return client
