"""Personal API tokens: the REST endpoints, the admin, the management command, and signing in with them."""
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import api_token_create, user_sign_up

pytestmark = pytest.mark.django_db

URL = "/api/v1/tokens/"


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_create_shows_the_token_once_then_only_its_hint(api, user):
    response = api.post(URL, {"name": "laptop"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    raw = body["token"]
    assert raw.startswith("pk_") and body["hint"] == "…" + raw[-4:] and body["name"] == "laptop"
    listed = api.get(URL).json()
    assert raw not in str(listed)
    assert {t["hint"] for t in listed["results"]} >= {"…" + raw[-4:]}
    assert "token" not in listed["results"][0]
    assert bearer(raw).get("/api/v1/conversations/").status_code == 200


def test_revoked_token_no_longer_authenticates(api, user):
    body = api.post(URL, {}, format="json").json()
    client = bearer(body["token"])
    assert api.delete(f"{URL}{body['id']}/").status_code == 204
    response = client.get("/api/v1/conversations/")
    assert response.status_code == 401 and response.json()["code"] == "authentication_failed"


def test_cannot_see_or_revoke_another_users_token(api, other_user):
    theirs, raw = api_token_create(user=other_user, name="theirs")
    assert theirs.pk not in [t["id"] for t in api.get(URL).json()["results"]]
    assert api.delete(f"{URL}{theirs.pk}/").status_code == 404
    assert bearer(raw).get(URL).status_code == 200


def test_bad_token_bodies(api):
    assert api.post(URL, {"name": "x", "scope": "all"}, format="json").json()["code"] == "unknown_field"
    assert api.post(URL, {"name": "n" * 101}, format="json").status_code == 400
    assert api.delete(f"{URL}abc/").status_code == 404


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer pk_nope", "Token abc"])
def test_bad_authorization_headers_are_401(client, header):
    response = client.get("/api/v1/conversations/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert set(response.json()) == {"detail", "code"}


def test_inactive_users_token_is_refused(user):
    _, raw = api_token_create(user=user)
    user.is_active = False
    user.save()
    assert bearer(raw).get("/api/v1/conversations/").status_code == 401


def test_session_auth_enforces_csrf(user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get("/api/v1/conversations/").status_code == 200
    refused = client.post("/api/v1/conversations/", {"title": "x"}, format="json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    # With the CSRF cookie and header, as the browser UI sends them, it goes through.
    client.get("/")
    csrf = client.cookies["csrftoken"].value
    accepted = client.post("/api/v1/conversations/", {"title": "x"}, format="json", HTTP_X_CSRFTOKEN=csrf)
    assert accepted.status_code == 201, accepted.content


def test_bearer_requests_need_no_csrf(user):
    _, raw = api_token_create(user=user)
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.post("/api/v1/conversations/", {}, format="json").status_code == 201


# --- manage.py create_api_token ----------------------------------------------------------------


def run_command(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_command_prints_a_working_token_as_its_last_word(user):
    out, _ = run_command("alice")
    raw = out.split()[-1]
    assert ApiToken.objects.filter(user=user).count() == 1
    assert bearer(raw).get("/api/v1/conversations/").status_code == 200


def test_command_refuses_a_missing_user_without_create_user():
    with pytest.raises(CommandError, match="No user named 'ghost'.*--create-user"):
        run_command("ghost")
    assert not get_user_model().objects.filter(username="ghost").exists()


def test_command_creates_a_user_without_a_usable_password():
    out, _ = run_command("robot", "--create-user")
    created = get_user_model().objects.get(username="robot")
    assert not created.has_usable_password()
    assert bearer(out.split()[-1]).get("/api/v1/conversations/").status_code == 200
    out_again, _ = run_command("robot", "--create-user")  # an existing user just gets another token
    assert out_again.split()[-1] != out.split()[-1]
    assert get_user_model().objects.filter(username="robot").count() == 1


# --- sign-up service ---------------------------------------------------------------------------


def test_first_account_becomes_admin_and_later_ones_do_not():
    first = user_sign_up(username="first", password="a long enough password 1")
    second = user_sign_up(username="second", password="a long enough password 2")
    assert first.is_staff and first.is_superuser
    assert not second.is_staff and not second.is_superuser
    assert first.check_password("a long enough password 1")


# --- admin -------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, make_user):
    admin = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    return client


def test_admin_creates_a_token_and_shows_it_once(admin_client, user):
    response = admin_client.post("/admin/accounts/apitoken/add/", {"user": user.pk, "name": "from admin"},
                                 follow=True)
    assert response.status_code == 200
    token = ApiToken.objects.get(user=user, name="from admin")
    shown = [str(m) for m in response.context["messages"]]
    raw = next(word for message in shown for word in message.split() if word.startswith("pk_"))
    assert raw.endswith(token.hint)
    assert bearer(raw).get("/api/v1/conversations/").status_code == 200
    for page in ("/admin/accounts/apitoken/", f"/admin/accounts/apitoken/{token.pk}/change/",
                 f"/admin/auth/user/{user.pk}/change/"):
        page_response = admin_client.get(page)
        assert page_response.status_code == 200
        assert raw not in page_response.content.decode()


def test_admin_user_page_lists_tokens_and_deleting_revokes(admin_client, user):
    token, raw = api_token_create(user=user, name="listed")
    page = admin_client.get(f"/admin/auth/user/{user.pk}/change/").content.decode()
    assert "listed" in page and token.hint in page
    assert admin_client.post(f"/admin/accounts/apitoken/{token.pk}/delete/", {"post": "yes"}).status_code == 302
    assert bearer(raw).get("/api/v1/conversations/").status_code == 401


@pytest.mark.django_db(transaction=True)
def test_simultaneous_first_sign_ups_make_exactly_one_admin():
    import threading

    from django.db import connection

    barrier = threading.Barrier(4)
    errors = []

    def sign_up(n):
        try:
            barrier.wait(timeout=10)
            user_sign_up(username=f"racer{n}", password="a long enough password")
        except Exception as exc:  # collected so the assertion below shows it
            errors.append(exc)
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=sign_up, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    users = get_user_model().objects.all()
    assert users.count() == 4
    assert users.filter(is_superuser=True, is_staff=True).count() == 1
