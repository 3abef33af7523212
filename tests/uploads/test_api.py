"""Uploads over REST: each kind decided from its bytes, the bytes served back safely, every bad file refused with
its SPEC status and code (nothing stored), names that cannot escape the storage root, and ownership."""
import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.uploads import files
from tests.uploads.conftest import stored_files
from uploads.models import Upload

pytestmark = pytest.mark.django_db

UPLOAD_FIELDS = {"id", "name", "content_type", "size", "kind", "sha256", "metadata", "message_id", "created_at",
                 "expires_at"}


def upload(api, data: bytes, name: str = "file.bin", content_type: str = "application/octet-stream"):
    return api.post("/api/v1/uploads/", {"file": SimpleUploadedFile(name, data, content_type=content_type)},
                    format="multipart")


@pytest.mark.parametrize("data, name, kind, content_type, metadata", [
    (files.image("PNG"), "a.png", "image", "image/png", {"width": 3, "height": 2}),
    (files.image("JPEG"), "b.jpg", "image", "image/jpeg", {"width": 3, "height": 2}),
    (files.image("WEBP"), "c.webp", "image", "image/webp", {"width": 3, "height": 2}),
    (files.image("GIF"), "d.gif", "image", "image/gif", {"width": 3, "height": 2}),
    (files.pdf(), "report.pdf", "pdf", "application/pdf", {"pages": 1}),
    (b"# Title\n\nSome *markdown*.\n", "notes.md", "text", "text/plain", {"chars": 26}),
    (b'{"a": [1, 2]}', "data.json", "text", "application/json", {"chars": 13}),
    (b"name,age\nada,36\n", "people.csv", "text", "text/plain", {"chars": 16}),
    ("def f():\n    return 'é'\n".encode(), "code.py", "text", "text/plain", {"chars": 24}),
])
def test_each_kind_is_decided_from_the_bytes(api, upload_root, data, name, kind, content_type, metadata):
    response = upload(api, data, name)
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == UPLOAD_FIELDS
    assert (body["kind"], body["content_type"], body["name"], body["size"]) == (kind, content_type, name, len(data))
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["metadata"] == metadata and body["message_id"] is None and body["expires_at"]
    (stored,) = stored_files(upload_root)
    assert stored.read_bytes() == data and name not in str(stored)


def test_the_clients_name_and_type_do_not_decide(api):
    body = upload(api, files.image("JPEG"), "holiday.gif", "image/gif").json()
    assert (body["kind"], body["content_type"]) == ("image", "image/jpeg")
    body = upload(api, files.pdf(), "notes.txt", "text/plain").json()
    assert body["kind"] == "pdf"


def test_content_is_served_with_the_sniffed_type_and_safe_headers(api):
    png = files.image("PNG")
    image_id = upload(api, png, "a.png", "text/html").json()["id"]
    response = api.get(f"/api/v1/uploads/{image_id}/content/")
    assert response.status_code == 200 and response.content == png
    assert response["Content-Type"] == "image/png" and response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("inline")

    text_id = upload(api, b"<script>alert(1)</script>", "page.html", "text/html").json()["id"]
    response = api.get(f"/api/v1/uploads/{text_id}/content/")
    assert response["Content-Type"].startswith("text/plain")
    assert response["Content-Disposition"].startswith("attachment") and "page.html" in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("data, name, status, code", [
    (b"this is text pretending to be a picture", "photo.png", 400, "invalid_file"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 10, "broken.png", 400, "invalid_file"),
    (files.image("PNG")[:40], "truncated.png", 400, "invalid_file"),
    (b"%PDF-1.4\n this is no pdf at all", "broken.pdf", 400, "invalid_file"),
    (files.png_header_only(50_000, 50_000), "bomb.png", 413, "image_too_large"),
    (files.ZIP, "archive.zip", 415, "unsupported_media_type"),
    (files.ZIP, "innocent.png", 415, "unsupported_media_type"),
    (files.ELF, "program", 415, "unsupported_media_type"),
    (b"MZ\x90\x00" + b"\x00" * 60 + b"PE\x00\x00" + b"\x00" * 200, "setup.exe", 415, "unsupported_media_type"),
    (bytes(range(256)) * 4, "blob.bin", 415, "unsupported_media_type"),
    (b"", "empty.txt", 400, "empty_file"),
])
def test_bad_files_are_refused_and_nothing_is_stored(api, upload_root, data, name, status, code):
    response = upload(api, data, name)
    assert response.status_code == status, response.content
    assert response.json()["code"] == code and response.json()["detail"]
    assert not Upload.objects.exists() and stored_files(upload_root) == []


def test_a_file_over_the_limit_is_413(api, upload_root):
    response = upload(api, b"a" * (21 * 1024 * 1024), "big.txt")
    assert response.status_code == 413 and response.json()["code"] == "too_large"
    assert not Upload.objects.exists() and stored_files(upload_root) == []


def test_the_limits_are_settings(api, settings):
    settings.PARLEY_UPLOAD_MAX_BYTES = 100
    assert upload(api, b"a" * 101, "a.txt").json()["code"] == "too_large"
    settings.PARLEY_UPLOAD_MAX_PIXELS = 5
    assert upload(api, files.image("PNG", size=(3, 2)), "a.png").json()["code"] == "image_too_large"


@pytest.mark.parametrize("name, expected", [
    ("../../../etc/passwd.txt", "passwd.txt"),
    ("..\\..\\windows\\win.ini", "win.ini"),
    ("a\x00b.txt", "ab.txt"),
    ("x" * 300 + ".txt", "x" * 251 + ".txt"),
])
def test_names_never_leave_the_storage_root(api, upload_root, tmp_path, name, expected):
    response = upload(api, b"plain text", name)
    assert response.status_code == 201, response.content
    assert response.json()["name"] == expected
    (stored,) = stored_files(upload_root)
    assert stored.is_relative_to(upload_root)
    # Nothing was written next to the root, where a `../` would have led.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["uploads"]


def test_missing_or_repeated_file_field(api):
    assert api.post("/api/v1/uploads/", {}, format="multipart").json()["code"] == "required"
    two = [SimpleUploadedFile("a.txt", b"a"), SimpleUploadedFile("b.txt", b"b")]
    response = api.post("/api/v1/uploads/", {"file": two}, format="multipart")
    assert response.status_code == 400 and response.json()["code"] == "required"
    response = api.post("/api/v1/uploads/", {"file": "x"}, format="json")
    assert response.status_code == 415 and response.json()["code"] == "unsupported_media_type"


def test_another_users_upload_is_404_everywhere(api, other_api, upload_root):
    upload_id = upload(api, b"secret notes", "secret.txt").json()["id"]
    for method, path in (("get", ""), ("get", "content/"), ("delete", "")):
        response = getattr(other_api, method)(f"/api/v1/uploads/{upload_id}/{path}")
        assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert other_api.get("/api/v1/uploads/").json()["results"] == []
    assert api.get("/api/v1/uploads/nope/").status_code == 404
    assert len(stored_files(upload_root)) == 1


def test_delete_removes_the_row_and_the_file(api, upload_root, django_capture_on_commit_callbacks):
    upload_id = upload(api, b"short-lived", "a.txt").json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/v1/uploads/{upload_id}/").status_code == 204
    assert api.get(f"/api/v1/uploads/{upload_id}/").status_code == 404
    assert stored_files(upload_root) == []


def test_list_is_newest_first(api):
    first = upload(api, b"one", "1.txt").json()["id"]
    second = upload(api, b"two", "2.txt").json()["id"]
    assert [item["id"] for item in api.get("/api/v1/uploads/").json()["results"]] == [second, first]


def test_anonymous_is_401(client):
    response = client.post("/api/v1/uploads/", {"file": SimpleUploadedFile("a.txt", b"a")})
    assert response.status_code == 401
