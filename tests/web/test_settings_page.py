"""The settings page (issue 14): password change, default model, theme, import; every form redirects after POST."""
import io
import json

import pytest

from chats.models import Conversation
from tests.chats.test_export_share import chatgpt_export

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def test_password_change_keeps_the_session_and_needs_the_old_password(signed_in, user):
    wrong = signed_in.post("/settings/", {"action": "password", "old_password": "nope",
                                          "new_password1": "a much better pass 42",
                                          "new_password2": "a much better pass 42"})
    assert wrong.status_code == 400 and "old password" in wrong.content.decode().lower()
    response = signed_in.post("/settings/", {"action": "password", "old_password": PASSWORD,
                                             "new_password1": "a much better pass 42",
                                             "new_password2": "a much better pass 42"})
    assert response.status_code == 302 and response["Location"] == "/settings/"
    user.refresh_from_db()
    assert user.check_password("a much better pass 42")
    assert signed_in.get("/settings/").status_code == 200  # still signed in


def test_default_model_and_theme_are_kept_and_used(signed_in, user):
    response = signed_in.post("/settings/", {"action": "preferences", "default_model": "anthropic/claude-x",
                                             "theme": "dark"})
    assert response.status_code == 302
    page = signed_in.get("/").content.decode()
    assert 'data-theme="dark"' in page and '"user_default_model": "anthropic/claude-x"' in page
    bad = signed_in.post("/settings/", {"action": "preferences", "default_model": "no-slash", "theme": "dark"})
    assert bad.status_code == 400 and "provider/model-id" in bad.content.decode()
    bad = signed_in.post("/settings/", {"action": "preferences", "default_model": "", "theme": "purple"})
    assert bad.status_code == 400
    assert user.preferences.theme == "dark" and user.preferences.default_model == "anthropic/claude-x"


def test_import_from_the_settings_page(signed_in, user):
    upload = io.BytesIO(json.dumps(chatgpt_export()).encode())
    upload.name = "conversations.json"
    response = signed_in.post("/settings/", {"action": "import", "file": upload})
    assert response.status_code == 302
    page = signed_in.get("/settings/").content.decode()
    assert "Imported 1 conversation" in page and "CRDTs" in page
    broken = io.BytesIO(b"{}")
    broken.name = "conversations.json"
    response = signed_in.post("/settings/", {"action": "import", "file": broken})
    assert response.status_code == 400 and "neither a Parley export" in response.content.decode()
    assert Conversation.objects.filter(owner=user).count() == 1


def test_the_settings_page_needs_a_sign_in(client):
    assert client.get("/settings/").status_code == 302


def test_the_default_model_is_that_of_conversations_made_over_the_api_too(signed_in, user):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(user)
    before = api.post("/api/v1/conversations/", {"title": "before"}, format="json").json()
    signed_in.post("/settings/", {"action": "preferences", "default_model": "anthropic/claude-x", "theme": "system"})
    after = api.post("/api/v1/conversations/", {"title": "after"}, format="json").json()
    chosen = api.post("/api/v1/conversations/", {"title": "chosen", "default_model": "openai/gpt-4o"},
                      format="json").json()
    assert before["default_model"] == "" and after["default_model"] == "anthropic/claude-x"
    assert chosen["default_model"] == "openai/gpt-4o"
