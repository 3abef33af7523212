"""No response, admin page, log line or SQL parameter ever carries a stored key, only its hint."""
import logging
import re
import secrets
import uuid

import pytest
from django.contrib import admin
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver

from chats.services import conversation_create, message_create, preset_create
from core.logging import SecretRedactionFilter, redact_secrets
from providers.models import CustomEndpoint, ProviderKey

pytestmark = pytest.mark.django_db

# Nothing in this module may reach a real provider: every base URL points at a closed loopback port.
CLOSED = "http://127.0.0.1:9"
OFFLINE = {slug: {"api_key": "", "base_url": CLOSED} for slug in
           ("openrouter", "openai", "anthropic", "gemini", "xai", "perplexity", "deepseek", "ollama")}


def _walk(patterns, prefix=""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route


def api_get_paths(ids: dict) -> list[str]:
    """Every /api/v1/ route with its parameters filled from `ids` (a fresh UUID when unknown)."""
    paths = []
    for route in _walk(get_resolver().url_patterns):
        if not route.startswith("api/v1/") or "stream" in route:  # SSE endpoints are checked by their owners
            continue
        paths.append("/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(ids.get(m.group(1), uuid.uuid4())), route))
    return sorted(set(paths))


def leaked(text: str, secret: str) -> bool:
    # The hint shows the last four characters; nothing before them may ever appear.
    return secret[:-4] in text


@pytest.fixture
def secrets_in_play():
    user_secret = "sk-leaktest-" + secrets.token_urlsafe(24)
    shared_secret = "sk-shared-" + secrets.token_urlsafe(24)
    endpoint_secret = "ep-secret-" + secrets.token_urlsafe(24)
    return {"user": user_secret, "shared": shared_secret, "endpoint": endpoint_secret}


@override_settings(PARLEY_PROVIDER_ENV=OFFLINE)
def test_stored_keys_never_leak(api, user, make_user, client, caplog, secrets_in_play):
    caplog.set_level(logging.DEBUG)
    bodies: list[str] = []
    admin_user = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(admin_user)

    with CaptureQueriesContext(connection) as queries:
        # A user stores a key through the API; bad input carrying a key is refused without echoing it.
        created = api.post("/api/v1/keys/", {"provider": "openai", "api_key": secrets_in_play["user"],
                                             "label": "mine"}, format="json")
        assert created.status_code == 201
        bodies.append(created.content.decode())
        for bad in ({"provider": "nope", "api_key": secrets_in_play["user"]},
                    {"provider": "openai", "api_key": secrets_in_play["user"] + " x"},
                    {"provider": "openai", "api_key": secrets_in_play["user"], "extra": secrets_in_play["user"]},
                    {"provider": "openai", "api_key": secrets_in_play["user"] * 200}):
            refused = api.post("/api/v1/keys/", bad, format="json")
            assert refused.status_code == 400
            bodies.append(refused.content.decode())
        # An admin stores a shared key and a custom endpoint key through the password fields.
        response = client.post("/admin/providers/providerkey/add/",
                               {"provider": "anthropic", "label": "team", "api_key": secrets_in_play["shared"]},
                               follow=True)
        assert response.status_code == 200 and ProviderKey.objects.filter(owner=None).exists()
        bodies.append(response.content.decode())
        response = client.post("/admin/providers/customendpoint/add/",
                               {"slug": "vllm", "name": "vLLM", "base_url": CLOSED + "/v1",
                                "api_key": secrets_in_play["endpoint"]}, follow=True)
        assert response.status_code == 200 and CustomEndpoint.objects.filter(slug="vllm").exists()
        bodies.append(response.content.decode())
        # A failed admin form is re-rendered without the value typed into the password field.
        response = client.post("/admin/providers/providerkey/add/",
                               {"provider": "", "api_key": secrets_in_play["shared"]})
        assert response.status_code == 200
        bodies.append(response.content.decode())

    for secret in secrets_in_play.values():
        for query in queries.captured_queries:
            assert not leaked(query["sql"], secret), "a plaintext key reached the database"

    conversation = conversation_create(owner=user, title="Leak check")
    message = message_create(conversation=conversation, content="hello")
    preset = preset_create(owner=user, name="p")
    key = ProviderKey.objects.get(owner=user)
    ids = {"conversation_id": conversation.pk, "message_id": message.pk, "preset_id": preset.pk,
           "key_id": key.pk, "id": key.pk}

    # Every API read, as the owner and anonymously.
    for path in api_get_paths(ids):
        for caller in (api, client.__class__()):
            response = caller.get(path)
            assert response.status_code < 500, (path, response.status_code)
            bodies.append(response.content.decode(errors="replace"))
    bodies.append(client.get("/api/schema/").content.decode())

    # Every admin page of every registered model: list, add, and the change page of one row.
    for model in admin.site._registry:
        opts = model._meta
        base = f"/admin/{opts.app_label}/{opts.model_name}/"
        pages = [base, base + "add/"]
        first = model.objects.first()
        if first is not None:
            pages.append(f"{base}{first.pk}/change/")
        for page in pages:
            response = client.get(page)
            assert response.status_code in (200, 403), (page, response.status_code)
            bodies.append(response.content.decode(errors="replace"))

    ciphertexts = list(ProviderKey.objects.values_list("encrypted_secret", flat=True))
    ciphertexts += list(CustomEndpoint.objects.values_list("encrypted_secret", flat=True))
    everything = "\n".join(bodies)
    log_text = "\n".join(record.getMessage() for record in caplog.records) + caplog.text
    for name, secret in secrets_in_play.items():
        assert not leaked(everything, secret), f"the {name} key appeared in a response or page"
        assert not leaked(log_text, secret), f"the {name} key appeared in a log line"
        assert secret[-4:] in everything or name == "endpoint"  # the hint is shown
    for ciphertext in ciphertexts:
        assert ciphertext not in everything


def test_redaction_filter_is_installed_and_scrubs_credentials():
    handler_filters = [f for h in logging.getLogger().handlers for f in h.filters]
    assert any(isinstance(f, SecretRedactionFilter) for f in handler_filters)
    samples = {
        "Authorization: Bearer pk_abcdefghijklmnopqrstuvwxyz": "pk_abcdefghijklmnop",
        "GET https://g.example/v1beta/models/x:streamGenerateContent?alt=sse&key=AIzaSyA1234567890abcdefgh": "AIzaSy",
        "headers={'x-api-key': 'sk-ant-api03-0123456789abcdef'}": "0123456789abcdef",
        "token gAAAAABl0123456789abcdefghijklmnopqrstuvwxyz": "gAAAAABl0123",
        "Error connecting to redis://:s3cretRedisPass@10.0.0.7:6379/0": "s3cretRedisPass",
        "could not connect: postgres://parley:pg-Pa55word@db:5432/parley": "pg-Pa55word",
    }
    for text, secret_part in samples.items():
        assert secret_part not in redact_secrets(text)
    assert redact_secrets("a perfectly ordinary line about keys") == "a perfectly ordinary line about keys"


def test_redaction_filter_scrubs_tracebacks():
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed with %s", ("Bearer pk_zzzzzzzzzzzzzzzzzzzz",),
                               None)
    try:
        raise RuntimeError("upstream said: api_key=sk-live-0123456789abcdef")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    SecretRedactionFilter().filter(record)
    assert "pk_zzzz" not in record.getMessage()
    assert "sk-live-0123456789abcdef" not in record.exc_text


def _failing_request_report(rf, authorization: str) -> str:
    from django.views.debug import ExceptionReporter

    request = rf.get("/api/v1/conversations/", HTTP_AUTHORIZATION=authorization)
    del authorization  # only the request carries it into the report
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        reporter = ExceptionReporter(request, type(exc), exc, exc.__traceback__)
        return reporter.get_traceback_text() + reporter.get_traceback_html()


def test_error_reports_hide_authorization_headers_and_provider_keys(rf, settings):
    token = "pk_" + secrets.token_urlsafe(24)
    env_key = "sk-env-" + secrets.token_urlsafe(24)
    settings.PARLEY_PROVIDER_ENV = {"openai": {"api_key": env_key, "base_url": ""}}
    report = _failing_request_report(rf, f"Bearer {token}")
    assert "HTTP_AUTHORIZATION" in report
    assert token not in report
    assert env_key not in report


def test_celery_workers_keep_the_redacting_log_handlers():
    from config.celery_app import app

    assert app.conf.worker_hijack_root_logger is False


def test_uvicorn_logs_pass_the_redaction_filter(settings):
    """As under `make run`: uvicorn configures its loggers first, then Django starts and configures its own."""
    import logging.config

    from django.utils.log import configure_logging
    from uvicorn.config import LOGGING_CONFIG

    logging.config.dictConfig(LOGGING_CONFIG)
    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)
    for name in ("uvicorn.error", "uvicorn.access"):
        logger, handlers = logging.getLogger(name), []
        while logger is not None:
            handlers += logger.handlers
            logger = logger.parent if logger.propagate else None
        assert handlers, name
        record = logging.LogRecord(name, logging.ERROR, __file__, 1, "Exception with %s",
                                   ("Authorization: Bearer pk_zzzzzzzzzzzzzzzzzzzz",), None)
        for handler in handlers:
            assert any(isinstance(f, SecretRedactionFilter) for f in handler.filters), (name, handler)
            handler.filter(record)
        assert "pk_zzzz" not in record.getMessage()
