"""PARLEY_SIGNUP open / approval / closed, the admin's Approve action, the first web sign-up becoming the admin
while no admin exists, and Django's username rules at sign-up."""
import os
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from tests.fixtures.live_server import ROOT

PASSWORD = "correct horse battery staple"
User = get_user_model()


def sign_up(client: Client, username: str, password: str = PASSWORD):
    return client.post("/signup/", {"username": username, "password1": password, "password2": password})


def sign_in(client: Client, username: str, password: str = PASSWORD):
    return client.post("/login/", {"username": username, "password": password})


@pytest.fixture
def signup_mode(settings):
    def set_mode(mode: str):
        settings.PARLEY_SIGNUP = mode

    return set_mode


def test_open_sign_up_signs_the_new_user_in(db, signup_mode):
    signup_mode("open")
    client = Client()
    assert sign_up(client, "first").status_code == 302
    assert sign_up(Client(), "second").status_code == 302
    assert User.objects.get(username="second").is_active


def test_a_user_made_by_the_token_command_does_not_take_the_admin_slot(db, signup_mode, capsys):
    signup_mode("open")
    call_command("create_api_token", "robot", "--create-user")
    page = Client().get("/signup/")
    assert b"it will be the administrator" in page.content
    assert sign_up(Client(), "boss").status_code == 302
    boss = User.objects.get(username="boss")
    assert boss.is_staff and boss.is_superuser
    assert not User.objects.get(username="robot").is_superuser
    # Once an admin exists, later sign-ups are ordinary users.
    sign_up(Client(), "later")
    assert not User.objects.get(username="later").is_staff


def test_approval_mode_keeps_new_accounts_out_until_an_admin_approves(db, signup_mode):
    signup_mode("approval")
    admin = Client()
    assert sign_up(admin, "boss").status_code == 302  # the admin-to-be never waits
    answer = sign_up(Client(), "newcomer")
    assert answer.status_code == 200 and b"awaits approval" in answer.content
    newcomer = Client()
    refused = sign_in(newcomer, "newcomer")
    assert refused.status_code == 200 and b"awaits approval" in refused.content
    assert "_auth_user_id" not in newcomer.session
    # A wrong password is not told anything about approval.
    assert b"awaits approval" not in sign_in(Client(), "newcomer", "wrong password").content

    pending = User.objects.get(username="newcomer")
    changelist = admin.get("/admin/auth/user/")
    assert b"Approve the selected accounts" in changelist.content
    done = admin.post("/admin/auth/user/", {"action": "approve", "_selected_action": [pending.pk]}, follow=True)
    assert b"Approved 1 account" in done.content
    assert sign_in(Client(), "newcomer").status_code == 302


def test_closed_sign_up_says_so_and_creates_nobody(db, signup_mode):
    signup_mode("closed")
    page = Client().get("/signup/")
    assert page.status_code == 200 and b"Sign-up is closed" in page.content and b"password1" not in page.content
    answer = sign_up(Client(), "intruder")
    assert answer.status_code == 403 and b"Sign-up is closed" in answer.content
    assert not User.objects.exists()


@pytest.mark.parametrize("username", ["bad name", "semi;colon", "slash/name", "<script>", "x" * 151])
def test_usernames_follow_djangos_rules(db, username):
    answer = sign_up(Client(), username)
    assert answer.status_code == 200
    assert not User.objects.filter(username=username).exists()
    errors = answer.context["form"].errors["username"]
    assert errors and any("letters" in error.lower() or "at most" in error.lower() for error in errors)


def test_a_bad_setting_is_refused_at_start_up():
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], capture_output=True, text=True,
                            cwd=ROOT, env={"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "config.settings.test",
                                           "PARLEY_SIGNUP": "sometimes"})
    assert result.returncode != 0 and "PARLEY_SIGNUP is open, approval or closed" in result.stderr
