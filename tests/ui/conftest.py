"""Browser fixtures: one Debian Chromium per test module (Playwright), a live ASGI server, signed-in pages."""
import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("PARLEY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORD = "correct horse battery staple"


def pytest_collection_modifyitems(config, items):
    # Everything under tests/ui drives the browser.
    for item in items:
        if "tests/ui/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="module")
def browser(request):
    # One Chromium per module, not per session: Playwright's sync API keeps an event loop running in this
    # thread while it lives, which must be gone before tests of other packages (some async) run. A module may
    # add switches of its own (CHROMIUM_EXTRA_ARGS, e.g. a fake microphone).
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make browser` installs it")
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        extra = list(getattr(request.module, "CHROMIUM_EXTRA_ARGS", ()))
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + extra)
        yield chromium
        chromium.close()


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch):
    # Playwright's loop makes Django think every ORM call in a test is in async code; these calls are plain
    # synchronous test set-up and assertions, so the guard is lifted for browser tests only.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def live(live_asgi):
    """The base URL of the whole app on a real socket (tests/fixtures/live_server.py), over a transactional DB."""
    return live_asgi.url


def _session_cookie(user, url):
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return {"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
            "url": url}


@pytest.fixture
def ui_user(transactional_db, django_user_model):
    return django_user_model.objects.create_user(username="ada", password=PASSWORD)


@pytest.fixture
def new_page(browser, live):
    """Opens pages in fresh contexts; `user=` signs the context in. Console errors are collected."""
    contexts = []

    def open_page(*, user=None, width=1280, height=860, color_scheme="light"):
        context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=color_scheme)
        context.set_default_timeout(10_000)
        if user is not None:
            context.add_cookies([_session_cookie(user, live)])
        contexts.append(context)
        page = context.new_page()
        page.js_errors = []
        page.on("pageerror", lambda exc: page.js_errors.append(str(exc)))
        # A blocked script or style is a page that does not work as written.
        page.on("console", lambda msg: "Content Security Policy" in msg.text and page.js_errors.append(msg.text))
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def shot():
    """Saves a full-page screenshot under test-artifacts/screenshots/ for a person to look at."""

    def save(page, name: str):
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)

    return save
