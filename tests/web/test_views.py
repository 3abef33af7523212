"""The UI's server side without a browser: access, what pages embed, what they never embed."""
import json
import re

import pytest
from django.contrib.auth import get_user_model

from chats.models import Conversation, Generation, GenerationStatus, Message, MessageStatus
from merging.models import MergeHistory
from providers.models import ProviderKey

pytestmark = pytest.mark.django_db

PAGES = ["/", "/compare/", "/merge/", "/presets/", "/settings/keys/", "/settings/tokens/"]


@pytest.fixture
def browser_client(client, user):
    client.force_login(user)
    return client


def embedded(response, element_id: str):
    pattern = rf'<script id="{element_id}" type="application/json">(.*?)</script>'
    match = re.search(pattern, response.content.decode(), re.S)
    assert match, f"no #{element_id} in the page"
    return json.loads(match.group(1))


@pytest.mark.parametrize("path", [*PAGES, "/c/00000000-0000-0000-0000-000000000000/"])
def test_pages_need_a_signed_in_user(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.parametrize("path", PAGES)
def test_pages_render_with_a_strict_script_policy(browser_client, path):
    response = browser_client.get(path)
    assert response.status_code == 200
    # Directives in any order: django-csp does not keep one.
    csp = dict(directive.strip().partition(" ")[::2] for directive in response["Content-Security-Policy"].split(";"))
    assert csp["script-src"] == "'self'" and csp["object-src"] == "'none'"
    assert b"onclick=" not in response.content and b"onsubmit=" not in response.content


def test_first_sign_up_is_the_admin_and_is_signed_in(client):
    data = {"username": "root", "password1": "a-long-passphrase-1", "password2": "a-long-passphrase-1"}
    response = client.post("/signup/", data)
    assert response.status_code == 302 and response["Location"] == "/"
    assert get_user_model().objects.get(username="root").is_superuser
    assert client.get("/").status_code == 200
    client.post("/logout/")
    data = {"username": "second", "password1": "another-passphrase-2", "password2": "another-passphrase-2"}
    client.post("/signup/", data)
    assert not get_user_model().objects.get(username="second").is_staff


def test_sign_up_refuses_a_taken_name_and_a_weak_password(client, user):
    response = client.post("/signup/", {"username": "ALICE", "password1": "x", "password2": "x"})
    assert response.status_code == 200
    assert b"That username is taken." in response.content
    assert b"too short" in response.content
    assert get_user_model().objects.count() == 1


def test_another_users_conversation_is_404(browser_client, other_user):
    theirs = Conversation.objects.create(owner=other_user, title="secret plans")
    response = browser_client.get(f"/c/{theirs.id}/")
    assert response.status_code == 404
    assert b"secret plans" not in response.content


def test_conversation_page_embeds_the_running_generation_to_resume(browser_client, user):
    conv = Conversation.objects.create(owner=user, title="Live")
    question = Message.objects.create(conversation=conv, role="user", content="hi")
    reply = Message.objects.create(conversation=conv, role="assistant", content="w1 w2", reply_to=question,
                                   status=MessageStatus.STREAMING, model="openai/story-9-9")
    generation = Generation.objects.create(owner=user, conversation=conv, message=reply, model="openai/story-9-9",
                                           status=GenerationStatus.RUNNING)
    data = embedded(browser_client.get(f"/c/{conv.id}/"), "page-data")
    rows = {row["id"]: row for row in data["messages"]}
    assert rows[str(reply.id)]["generation_id"] == str(generation.id)
    assert rows[str(reply.id)]["status"] == "streaming"
    assert rows[str(question.id)]["generation_id"] is None


def test_conversation_page_escapes_markup_and_shows_merge_sources(browser_client, user):
    source = Conversation.objects.create(owner=user, title="<b>Source</b>")
    merged = Conversation.objects.create(owner=user, title="Merged")
    MergeHistory.objects.create(result_conversation=merged, source_conversation=source)
    Message.objects.create(conversation=merged, role="assistant", content="</script><script>alert(1)</script>")
    response = browser_client.get(f"/c/{merged.id}/")
    html = response.content.decode()
    assert "</script><script>alert(1)" not in html
    assert "&lt;b&gt;Source&lt;/b&gt;" in html
    assert embedded(response, "page-data")["messages"][0]["content"] == "</script><script>alert(1)</script>"


def test_sidebar_search_matches_titles_and_message_text(browser_client, user, other_user):
    a = Conversation.objects.create(owner=user, title="Bread")
    Message.objects.create(conversation=a, role="user", content="levain timing")
    Conversation.objects.create(owner=user, title="Taxes")
    theirs = Conversation.objects.create(owner=other_user, title="levain too")
    html = browser_client.get("/?q=levain").content.decode()
    assert "Bread" in html and "Taxes" not in html and str(theirs.id) not in html


def test_keys_page_shows_hints_never_secrets(browser_client, user):
    key = ProviderKey(owner=user, provider="openai", label="work")
    key.set_secret("sk-live-very-secret-123456")
    key.save()
    html = browser_client.get("/settings/keys/").content.decode()
    assert key.hint in html
    assert "sk-live-very-secret-123456" not in html and key.encrypted_secret not in html


def test_api_token_is_shown_in_the_creating_response_only(browser_client, user):
    # Redirect after POST (issue 14): the token shows on the page the POST leads to, once.
    response = browser_client.post("/settings/tokens/", {"name": "cli"}, follow=True)
    assert response.redirect_chain == [("/settings/tokens/", 302)]
    token = re.search(r'id="new-token-value">(pk_[^<]+)<', response.content.decode()).group(1)
    assert response["Cache-Control"] == "no-store"
    assert user.api_tokens.get().hint == token[-4:]
    assert token not in browser_client.get("/settings/tokens/").content.decode()
    browser_client.post(f"/settings/tokens/{user.api_tokens.get().id}/revoke/")
    assert not user.api_tokens.exists()


def test_first_run_notice_follows_provider_configuration(browser_client, user, settings):
    settings.PARLEY_PROVIDER_ENV = {}
    assert b'id="first-run"' in browser_client.get("/").content
    settings.PARLEY_PROVIDER_ENV = {"openai": {"api_key": "k", "base_url": ""}}
    assert b'id="first-run"' not in browser_client.get("/").content
