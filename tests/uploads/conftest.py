"""Uploads go to a temporary storage root of each test, so tests can see exactly which files exist."""
import pytest


@pytest.fixture(autouse=True)
def upload_root(tmp_path, settings):
    root = tmp_path / "uploads"
    root.mkdir()
    settings.STORAGES = {**settings.STORAGES, "uploads": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}}}
    return root


def stored_files(root) -> list:
    return sorted(p for p in root.rglob("*") if p.is_file())
