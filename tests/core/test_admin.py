"""The admin: shared provider keys set through a password field and shown by hint, conversations with messages."""
import pytest

from chats.models import Generation
from chats.services import conversation_create, message_create, preset_create
from providers.models import CustomEndpoint, ProviderKey

pytestmark = pytest.mark.django_db

SECRET = "sk-admin-shared-0123456789wxyz"


@pytest.fixture
def admin_client(client, make_user):
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    return client


def test_shared_key_is_set_through_a_password_field_and_kept_when_left_empty(admin_client):
    form_page = admin_client.get("/admin/providers/providerkey/add/").content.decode()
    assert 'type="password"' in form_page
    response = admin_client.post("/admin/providers/providerkey/add/",
                                 {"provider": "openai", "label": "team", "api_key": SECRET})
    assert response.status_code == 302
    key = ProviderKey.objects.get()
    assert key.owner is None and key.get_secret() == SECRET and key.hint == "…wxyz"
    listing = admin_client.get("/admin/providers/providerkey/").content.decode()
    assert "…wxyz" in listing and "shared" in listing and SECRET not in listing
    change_url = f"/admin/providers/providerkey/{key.pk}/change/"
    change_page = admin_client.get(change_url).content.decode()
    assert SECRET not in change_page and key.encrypted_secret not in change_page
    # Saving without typing a key keeps the stored one; typing one replaces it.
    admin_client.post(change_url, {"provider": "openai", "label": "renamed", "api_key": ""})
    key.refresh_from_db()
    assert key.label == "renamed" and key.get_secret() == SECRET
    admin_client.post(change_url, {"provider": "openai", "label": "renamed", "api_key": "sk-new-key-00000000abcd"})
    key.refresh_from_db()
    assert key.get_secret() == "sk-new-key-00000000abcd" and key.hint == "…abcd"


def test_a_new_shared_key_needs_a_key(admin_client):
    response = admin_client.post("/admin/providers/providerkey/add/", {"provider": "openai", "api_key": ""})
    assert response.status_code == 200
    assert not ProviderKey.objects.exists()


def test_custom_endpoint_key_is_optional_and_masked(admin_client):
    response = admin_client.post("/admin/providers/customendpoint/add/",
                                 {"slug": "local", "name": "Local", "base_url": "http://10.0.0.5:8000/v1"})
    assert response.status_code == 302
    endpoint = CustomEndpoint.objects.get()
    assert endpoint.encrypted_secret == "" and endpoint.owner is None
    admin_client.post(f"/admin/providers/customendpoint/{endpoint.pk}/change/",
                      {"slug": "local", "name": "Local", "base_url": "http://10.0.0.5:8000/v1", "api_key": SECRET})
    endpoint.refresh_from_db()
    assert endpoint.get_secret() == SECRET
    assert SECRET not in admin_client.get("/admin/providers/customendpoint/").content.decode()


def test_conversation_page_shows_its_messages(admin_client, user):
    conversation = conversation_create(owner=user, title="Inline check")
    message_create(conversation=conversation, content="first words here")
    page = admin_client.get(f"/admin/chats/conversation/{conversation.pk}/change/")
    assert page.status_code == 200
    assert "first words here" in page.content.decode()
    assert "Inline check" in admin_client.get("/admin/chats/conversation/").content.decode()


def test_presets_and_read_only_generations(admin_client, user):
    preset = preset_create(owner=user, name="Admin preset")
    assert "Admin preset" in admin_client.get("/admin/chats/preset/").content.decode()
    assert admin_client.get(f"/admin/chats/preset/{preset.pk}/change/").status_code == 200
    generation = Generation.objects.create(owner=user, model="openai/gpt-4o")
    assert admin_client.get("/admin/chats/generation/").status_code == 200
    assert admin_client.get("/admin/chats/generation/add/").status_code == 403
    view = admin_client.get(f"/admin/chats/generation/{generation.pk}/change/")
    assert view.status_code == 200 and 'name="_save"' not in view.content.decode()
