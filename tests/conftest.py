"""Shared fixtures: users, authenticated API clients, and the services marker's CI guard."""
import os
import uuid

import pytest
from rest_framework.test import APIClient

pytest_plugins = ["tests.fixtures.fake_provider", "tests.fixtures.live_server", "tests.fixtures.faults"]

SERVICES_CONFIGURED = bool(os.environ.get("DATABASE_URL")) and bool(os.environ.get("REDIS_URL"))
REQUIRE_SERVICES = os.environ.get("PARLEY_REQUIRE_SERVICES") == "1"


def pytest_collection_modifyitems(config, items):
    if SERVICES_CONFIGURED:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL and Redis (set DATABASE_URL and REDIS_URL)")
    for item in items:
        if "services" in item.keywords:
            item.add_marker(skip)


_skipped_service_tests: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped and "services" in report.keywords:
        _skipped_service_tests.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    # In CI a skipped service-backed test is a missing check, not a pass.
    if REQUIRE_SERVICES and _skipped_service_tests:
        print("\nService-backed tests were skipped in CI:\n  " + "\n  ".join(_skipped_service_tests))
        session.exitstatus = 1


@pytest.fixture(autouse=True)
def _own_throttle_counters(settings):
    """Each test counts its requests from zero, without touching other tests' (or other runs') cache keys."""
    settings.PARLEY_THROTTLE_PREFIX = f"{settings.PARLEY_THROTTLE_PREFIX}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def make_user(db, django_user_model):
    counter = {"n": 0}

    def make(username: str | None = None, password: str = "correct horse battery staple", **extra):
        counter["n"] += 1
        return django_user_model.objects.create_user(
            username=username or f"user{counter['n']}", password=password, **extra
        )

    return make


@pytest.fixture
def user(make_user):
    return make_user("alice")


@pytest.fixture
def other_user(make_user):
    return make_user("mallory")


def _with_api_token(user):
    from accounts.services import api_token_create

    _, user.raw_token = api_token_create(user=user, name="tests")
    return user


@pytest.fixture
def alice(django_user_model):
    """A user with an API token (`raw_token`), for the live-server tests (not with `user`: the same name)."""
    return _with_api_token(django_user_model.objects.create_user("alice", password="correct horse battery staple"))


@pytest.fixture
def mallory(django_user_model):
    """Another user with an API token (`raw_token`)."""
    return _with_api_token(django_user_model.objects.create_user("mallory", password="correct horse battery staple"))


def token_client(user) -> APIClient:
    from accounts.services import api_token_create

    _, raw = api_token_create(user=user, name="tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def api(user) -> APIClient:
    """An API client authenticated as `user` with a personal API token."""
    return token_client(user)


@pytest.fixture
def other_api(other_user) -> APIClient:
    return token_client(other_user)
