"""The providers API: providers overview, model catalog, key validation and custom endpoints."""
import logging

import pytest

from providers.models import CatalogFetch, CatalogModel, CustomEndpoint, ProviderKey
from providers.services import provider_key_create


@pytest.fixture
def admin_api(make_user):
    from tests.conftest import token_client

    return token_client(make_user("root", is_staff=True, is_superuser=True))


def test_providers_list_says_where_keys_come_from(api, user, fake_provider, settings):
    settings.PARLEY_PROVIDER_ENV["xai"] = {"api_key": "", "base_url": ""}
    provider_key_create(owner=user, provider="openai", api_key="sk-user-own-key-1234")
    provider_key_create(owner=None, provider="anthropic", api_key="sk-shared-key-5678")
    response = api.get("/api/v1/providers/")
    assert response.status_code == 200
    rows = {row["slug"]: row for row in response.json()}
    assert rows["openai"]["key_source"] == "user" and rows["openai"]["configured"] is True
    assert rows["anthropic"]["key_source"] == "shared"
    assert rows["gemini"]["key_source"] == "env" and rows["gemini"]["protocol"] == "gemini_generate"
    assert rows["xai"] == {"slug": "xai", "name": "xAI", "protocol": "openai_chat", "configured": False,
                           "key_source": None, "source": None}
    assert rows["openai"]["source"] == "user" and rows["anthropic"]["source"] == "shared"
    assert rows["gemini"]["source"] == "env"
    assert "base_url" not in rows["openai"]
    assert "sk-user-own-key-1234" not in response.content.decode()


def test_custom_endpoint_is_listed_with_its_base_url(api, user, fake_provider):
    CustomEndpoint.objects.create(owner=None, slug="lab", name="Lab vLLM", base_url=f"{fake_provider.url}/lab")
    rows = {row["slug"]: row for row in api.get("/api/v1/providers/").json()}
    assert rows["lab"]["base_url"] == f"{fake_provider.url}/lab"
    assert rows["lab"]["configured"] is True


def test_models_refresh_fetches_every_provider_list(api, fake_provider):
    response = api.get("/api/v1/models/?refresh=1")
    assert response.status_code == 200
    body = response.json()
    assert body["cached"] is False and body["fetched_at"]
    ids = {m["id"] for m in body["models"]}
    # OpenRouter with pricing and context length
    echo = next(m for m in body["models"] if m["id"] == "openrouter/fake/echo")
    assert echo["pricing"] == {"prompt": "0.000001", "completion": "0.000002"}
    assert echo["context_length"] == 8192
    assert "vision" in echo["capabilities"] and "tools" in echo["capabilities"]
    # Anthropic and Gemini lists come in pages of two: all four models means pagination was followed.
    assert {f"anthropic/{m}" for m in ("echo", "story-5-0", "think-4-0", "tools")} <= ids
    assert {f"gemini/{m}" for m in ("echo", "story-5-0", "think-4-0", "tools")} <= ids
    assert "gemini/text-embedding-004" not in ids  # not chat-capable
    assert {"openai/echo", "xai/echo", "deepseek/echo", "ollama/echo"} <= ids
    assert "perplexity/sonar" in ids  # no list endpoint: the maintained static list
    gemini_think = next(m for m in body["models"] if m["id"] == "gemini/think-4-0")
    assert gemini_think["context_length"] == 1048576 and "reasoning" in gemini_think["capabilities"]


def test_models_are_cached_until_the_ttl(api, fake_provider):
    api.get("/api/v1/models/?refresh=1")
    fake_provider.clear()
    again = api.get("/api/v1/models/").json()
    assert again["cached"] is True
    assert not [r for r in fake_provider.requests() if r["path"].endswith("/models")]


def test_embedded_mode_refreshes_a_stale_catalog_on_demand(api, fake_provider, settings):
    settings.CELERY_BROKER_URL = ""
    body = api.get("/api/v1/models/").json()  # never fetched: stale
    assert body["cached"] is False
    assert any(m["id"] == "openai/echo" for m in body["models"])


def test_models_filters(api, fake_provider):
    api.get("/api/v1/models/?refresh=1")
    only_anthropic = api.get("/api/v1/models/?provider=anthropic").json()["models"]
    assert only_anthropic and {m["provider"] for m in only_anthropic} == {"anthropic"}
    searched = api.get("/api/v1/models/?q=think").json()["models"]
    assert searched and all("think" in m["id"] for m in searched)
    reasoning = api.get("/api/v1/models/?capability=reasoning").json()["models"]
    assert reasoning and all("reasoning" in m["capabilities"] for m in reasoning)
    assert api.get("/api/v1/models/?provider=nope").status_code == 400


def test_failed_refresh_keeps_the_last_good_catalog(api, fake_provider):
    api.get("/api/v1/models/?refresh=1")
    before = set(CatalogModel.objects.filter(provider="openai").values_list("id", flat=True))
    assert before
    fake_provider.fail_model_lists("openai")
    body = api.get("/api/v1/models/?refresh=1").json()
    assert {m["id"] for m in body["models"] if m["provider"] == "openai"} == before
    fetch = CatalogFetch.objects.get(provider="openai")
    assert fetch.ok is False and "502" in fetch.error


def test_celery_task_refreshes_the_shared_catalog(fake_provider, db):
    from providers.tasks import refresh_catalog

    outcome = refresh_catalog.apply().get()
    assert outcome["openrouter"] == "ok" and outcome["gemini"] == "ok"
    from providers.fake.wire import FAKE_MODELS

    assert CatalogModel.objects.filter(provider="openrouter").count() == len(FAKE_MODELS)


def test_beat_schedules_the_refresh_every_ttl(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["refresh-model-catalog"]
    assert entry["task"] == "providers.tasks.refresh_catalog"
    from providers.tasks import refresh_catalog

    assert refresh_catalog.name == entry["task"]


@pytest.mark.parametrize("provider", ["openai", "openrouter", "anthropic", "gemini", "perplexity", "deepseek"])
def test_validate_key_asks_the_provider_and_stores_the_verdict(api, user, fake_provider, provider):
    good = provider_key_create(owner=user, provider=provider, api_key="good-key-abcd")
    bad = provider_key_create(owner=user, provider=provider, api_key="bad-key")
    answer = api.post(f"/api/v1/keys/{good.pk}/validate/")
    assert answer.status_code == 200 and answer.json()["valid"] is True
    answer = api.post(f"/api/v1/keys/{bad.pk}/validate/")
    assert answer.status_code == 200 and answer.json()["valid"] is False
    assert "bad-key" not in answer.content.decode()
    bad.refresh_from_db()
    assert bad.valid is False and bad.last_validated_at is not None
    listed = {k["id"]: k for k in api.get("/api/v1/keys/").json()["results"]}
    assert listed[good.pk]["valid"] is True and listed[bad.pk]["valid"] is False
    sent = [r for r in fake_provider.requests() if r["path"].startswith(f"/{provider}/")]
    assert sent, "the provider was asked"


def test_validate_someone_elses_key_is_404(api, other_user, fake_provider):
    theirs = provider_key_create(owner=other_user, provider="openai", api_key="their-key-9999")
    assert api.post(f"/api/v1/keys/{theirs.pk}/validate/").status_code == 404


def test_validate_unreachable_provider_is_503_and_stores_nothing(api, user, settings, fake_provider):
    settings.PARLEY_PROVIDER_ENV["openai"] = {"api_key": "", "base_url": "http://127.0.0.1:9/v1"}
    key = provider_key_create(owner=user, provider="openai", api_key="some-key-1234")
    answer = api.post(f"/api/v1/keys/{key.pk}/validate/")
    assert answer.status_code == 503 and answer.json()["code"] == "provider_unreachable"
    key.refresh_from_db()
    assert key.valid is None


def test_user_endpoint_on_loopback_is_refused(api):
    for url in ("http://127.0.0.1:8000/v1", "http://localhost/v1", "http://169.254.169.254/latest",
                "http://10.0.0.5/v1", "http://[::1]/v1", "http://192.168.1.2/v1"):
        answer = api.post("/api/v1/endpoints/", {"slug": "mine", "base_url": url}, format="json")
        assert answer.status_code == 400, url
        assert answer.json()["code"] == "blocked_endpoint"
    assert not CustomEndpoint.objects.exists()


def test_only_admins_add_shared_endpoints_and_they_may_point_anywhere(api, admin_api, fake_provider):
    payload = {"slug": "lab", "name": "Lab", "base_url": f"{fake_provider.url}/lab", "shared": True,
               "api_key": "lab-secret-key-0001"}
    assert api.post("/api/v1/endpoints/", payload, format="json").status_code == 403
    created = admin_api.post("/api/v1/endpoints/", payload, format="json")
    assert created.status_code == 201
    body = created.json()
    assert body["shared"] is True and body["hint"] == "…0001" and "api_key" not in body
    listed = api.get("/api/v1/endpoints/").json()
    assert [e["slug"] for e in listed] == ["lab"]
    # An ordinary user cannot delete a shared endpoint.
    assert api.delete(f"/api/v1/endpoints/{body['id']}/").status_code == 404


def test_endpoint_bodies_are_strict_and_slugs_unique(admin_api, fake_provider):
    assert admin_api.post("/api/v1/endpoints/", {"slug": "x", "base_url": "http://example.com", "evil": 1},
                          format="json").json()["code"] == "unknown_field"
    assert admin_api.post("/api/v1/endpoints/", {"slug": "openai", "base_url": f"{fake_provider.url}/x",
                                                 "shared": True}, format="json").status_code == 400


def test_user_deletes_own_endpoint_not_others(api, other_api, user, other_user):
    mine = CustomEndpoint.objects.create(owner=user, slug="mine", name="m", base_url="https://example.com/v1")
    assert other_api.delete(f"/api/v1/endpoints/{mine.pk}/").status_code == 404
    assert api.delete(f"/api/v1/endpoints/{mine.pk}/").status_code == 204


def test_no_key_in_any_response_or_log(api, user, fake_provider, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "sk-very-secret-user-key-7777"
    provider_key_create(owner=user, provider="openai", api_key=secret)
    key = ProviderKey.objects.get(owner=user)
    bodies = [
        api.get("/api/v1/providers/").content,
        api.get("/api/v1/models/?refresh=1").content,
        api.post(f"/api/v1/keys/{key.pk}/validate/").content,
        api.get("/api/v1/keys/").content,
    ]
    for body in bodies:
        assert secret.encode() not in body
    assert secret not in caplog.text
    assert "test-key-" not in caplog.text


def test_shared_custom_endpoint_models_are_in_the_catalog(api, fake_provider):
    CustomEndpoint.objects.create(owner=None, slug="lab", name="Lab", base_url=f"{fake_provider.url}/lab",
                                  encrypted_secret="", hint="")
    ids = {m["id"] for m in api.get("/api/v1/models/?refresh=1&provider=lab").json()["models"]}
    from providers.fake.wire import FAKE_MODELS

    assert ids == {f"lab/{model}" for model in FAKE_MODELS}


def test_no_key_in_errors_or_logs_when_streams_fail(db, fake_provider, settings, caplog):
    from providers.gateway import resolve_route
    from tests.providers.streaming import ALL_PROVIDERS, collect, model_name

    caplog.set_level(logging.DEBUG)
    for provider in ALL_PROVIDERS:
        settings.PARLEY_PROVIDER_ENV[provider]["api_key"] = f"sk-secret-{provider}-0123456789"
    messages = []
    for provider in ALL_PROVIDERS:
        for behaviour in ("badkey", "nocredit", "fail-after-1", "notjson"):
            outcome = collect(resolve_route(model=model_name(provider, behaviour), user_id=None))
            messages.append(outcome.error.message)
    assert all("sk-secret" not in message for message in messages)
    assert "sk-secret" not in caplog.text


def test_catalog_admin_is_read_only(client, make_user, fake_provider):
    from django.utils import timezone

    CatalogModel.objects.create(id="openai/gpt-4o", provider="openai", name="GPT-4o", fetched_at=timezone.now())
    client.force_login(make_user("boss", is_staff=True, is_superuser=True))
    page = client.get("/admin/providers/catalogmodel/")
    assert page.status_code == 200 and b"openai/gpt-4o" in page.content
    assert client.get("/admin/providers/catalogmodel/add/").status_code == 403
    assert client.get("/admin/providers/catalogfetch/").status_code == 200


def test_endpoint_base_url_carrying_a_secret_is_refused(admin_api):
    for url in ("https://user:sk-live-0123456789abcdef@example.com/v1", "https://example.com/v1?key=sk-0123456789",
                "https://token@example.com/v1", "https://example.com/v1#sk-0123456789"):
        answer = admin_api.post("/api/v1/endpoints/", {"slug": "lab", "base_url": url, "shared": True}, format="json")
        assert answer.status_code == 400, url
        assert answer.json()["code"] == "credentials_in_url"
        assert "0123456789" not in answer.content.decode()
    assert not CustomEndpoint.objects.exists()


def test_admin_form_refuses_an_endpoint_url_with_credentials():
    from providers.admin import CustomEndpointForm

    form = CustomEndpointForm(data={"slug": "lab", "name": "Lab", "base_url": "https://u:p4ssw0rd@example.com/v1"})
    assert not form.is_valid()
    assert "base_url" in form.errors
