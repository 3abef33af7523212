"""The browser fixtures of tests/ui, for the security checks that need Chromium."""
from tests.ui.conftest import _orm_beside_playwright, browser, live, new_page, shot, ui_user  # noqa: F401
