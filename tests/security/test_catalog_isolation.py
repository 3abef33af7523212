"""A catalog fetched with a user's own key or endpoint is that user's: nobody else sees its models."""
from django.test import Client

from providers.services import custom_endpoint_create, provider_key_create


def model_ids(client, query="") -> set[str]:
    response = client.get(f"/api/v1/models/{query}")
    assert response.status_code == 200, response.content
    return {entry["id"] for entry in response.json()["models"]}


def test_a_users_own_key_lists_models_for_that_user_only(api, other_api, user, fake_provider):
    provider_key_create(owner=user, provider="openai", api_key="sk-alice-finetune-acme")
    mine = model_ids(api, "?refresh=1&provider=openai")
    assert "openai/ft-acme" in mine
    # Mallory uses the environment key: the shared list, without Alice's fine-tune, refreshed or not.
    assert "openai/ft-acme" not in model_ids(other_api, "?provider=openai")
    assert "openai/ft-acme" not in model_ids(other_api, "?refresh=1")
    assert "openai/echo" in model_ids(other_api, "?provider=openai")
    # And Alice still sees hers after Mallory's refresh rewrote the shared list.
    assert "openai/ft-acme" in model_ids(api, "?provider=openai")


def test_the_shared_catalog_comes_only_from_shared_or_environment_keys(api, other_api, user, fake_provider):
    provider_key_create(owner=user, provider="openai", api_key="sk-alice-finetune-secret")
    model_ids(api, "?refresh=1")
    provider_key_create(owner=None, provider="openai", api_key="sk-shared-finetune-team")
    shared = model_ids(other_api, "?refresh=1&provider=openai")
    assert "openai/ft-team" in shared and "openai/ft-secret" not in shared
    # Alice's own key decides what she sees: her fine-tune, not the shared key's.
    assert model_ids(api, "?provider=openai") >= {"openai/ft-secret"}
    assert "openai/ft-team" not in model_ids(api, "?provider=openai")


def test_a_users_own_endpoint_lists_models_for_that_user_only(api, other_api, user, fake_provider, settings):
    # The fake listens on loopback, where only an admin's own endpoint may point: Alice is staff here.
    custom_endpoint_create(owner=None, slug="lab", name="Lab", base_url=f"{fake_provider.url}/lab",
                           api_key="lab-shared-key")
    user.is_staff = True
    user.save()
    custom_endpoint_create(owner=user, slug="mine", name="Mine", base_url=f"{fake_provider.url}/mine",
                           api_key="mine-finetune-private")
    assert "mine/ft-private" in model_ids(api, "?refresh=1")
    others = model_ids(other_api, "?refresh=1")
    assert not any(model.startswith("mine/") for model in others)
    assert "lab/echo" in others


def test_the_ui_picker_shows_no_other_users_models(api, user, other_user, fake_provider):
    provider_key_create(owner=user, provider="openai", api_key="sk-alice-finetune-acme")
    model_ids(api, "?refresh=1")
    browser = Client()
    browser.force_login(other_user)
    # The picker fills itself from this same endpoint with the session.
    assert "openai/ft-acme" not in model_ids(browser)


def test_the_gateway_lists_a_users_own_models_for_that_user_only(api, other_api, user, fake_provider):
    provider_key_create(owner=user, provider="openai", api_key="sk-alice-finetune-acme")
    model_ids(api, "?refresh=1&provider=openai")
    mine = [entry["id"] for entry in api.get("/v1/models").json()["data"]]
    # Every id is the model's name, the user's own entries included.
    assert "openai/ft-acme" in mine and all(isinstance(model, str) and "/" in model for model in mine)
    theirs = {entry["id"] for entry in other_api.get("/v1/models").json()["data"]}
    assert "openai/ft-acme" not in theirs and "openai/echo" in theirs
