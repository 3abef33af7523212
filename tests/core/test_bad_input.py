"""Every write endpoint answers malformed bodies with a JSON 4xx and writes nothing."""
import pytest

from accounts.models import ApiToken
from chats.models import Conversation, Message, Preset
from chats.services import conversation_create, preset_create
from providers.models import ProviderKey

pytestmark = pytest.mark.django_db

# (method, path with {conversation}/{preset} placeholders, a valid body)
WRITE_ENDPOINTS = [
    ("post", "/api/v1/conversations/", {"title": "t"}),
    ("patch", "/api/v1/conversations/{conversation}/", {"title": "t"}),
    ("post", "/api/v1/conversations/{conversation}/messages/", {"content": "hi"}),
    ("post", "/api/v1/presets/", {"name": "p2"}),
    ("patch", "/api/v1/presets/{preset}/", {"name": "p3"}),
    ("post", "/api/v1/keys/", {"provider": "openai", "api_key": "sk-valid-0000000000"}),
    ("post", "/api/v1/tokens/", {"name": "n"}),
]
IDS = [f"{m} {p}" for m, p, _ in WRITE_ENDPOINTS]


@pytest.fixture
def fill(user):
    objects = {"conversation": conversation_create(owner=user, title="orig"), "preset": preset_create(owner=user,
                                                                                                       name="orig")}
    return lambda path: path.format(**{name: obj.pk for name, obj in objects.items()})


def state() -> tuple:
    return (
        list(Conversation.objects.values_list("title", flat=True)),
        Message.objects.count(),
        list(Preset.objects.values_list("name", flat=True)),
        ProviderKey.objects.count(),
        ApiToken.objects.count(),
    )


@pytest.mark.parametrize("method, path, body", WRITE_ENDPOINTS, ids=IDS)
def test_invalid_json(api, fill, method, path, body):
    before = state()
    response = getattr(api, method)(fill(path), data='{"oops": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert state() == before


@pytest.mark.parametrize("method, path, body", WRITE_ENDPOINTS, ids=IDS)
@pytest.mark.parametrize("raw", ["[]", '"text"', "42", "null"])
def test_body_that_is_not_an_object(api, fill, method, path, body, raw):
    before = state()
    response = getattr(api, method)(fill(path), data=raw, content_type="application/json")
    assert response.status_code == 400, response.content
    assert set(response.json()) >= {"detail", "code"}
    assert state() == before


@pytest.mark.parametrize("method, path, body", WRITE_ENDPOINTS, ids=IDS)
def test_unknown_field(api, fill, method, path, body):
    before = state()
    response = getattr(api, method)(fill(path), {**body, "surprise": 1}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_field"
    assert "surprise" in response.json()["detail"]
    assert state() == before


@pytest.mark.parametrize("method, path, body", WRITE_ENDPOINTS, ids=IDS)
def test_form_encoded_bodies_are_415(api, fill, method, path, body):
    before = state()
    response = getattr(api, method)(fill(path), body)  # multipart, not JSON
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert state() == before


@pytest.mark.parametrize("method, path, body", WRITE_ENDPOINTS, ids=IDS)
def test_the_valid_body_works(api, fill, method, path, body):
    assert getattr(api, method)(fill(path), body, format="json").status_code in (200, 201)


def test_request_id_and_cors(client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["http://localhost:5173"]
    response = client.get("/api/v1/health/", HTTP_X_REQUEST_ID="abc-123", HTTP_ORIGIN="http://localhost:5173")
    assert response["X-Request-ID"] == "abc-123"
    assert response["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert "X-Request-ID" in response["Access-Control-Expose-Headers"]
    foreign = client.get("/api/v1/health/", HTTP_ORIGIN="https://evil.example")
    assert "Access-Control-Allow-Origin" not in foreign
    assert len(foreign["X-Request-ID"]) == 16
    unsafe = client.get("/api/v1/health/", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert unsafe["X-Request-ID"] != "bad id\nwith newline"


@pytest.mark.parametrize("method, path, body", WRITE_ENDPOINTS, ids=IDS)
def test_null_characters_are_400_on_every_string_field(api, fill, method, path, body):
    # PostgreSQL cannot store NUL; it must be refused as bad input, never reach the database as a 500.
    before = state()
    for field, value in body.items():
        poisoned = {**body, field: value[:2] + "\u0000" + value[2:]}
        response = getattr(api, method)(fill(path), poisoned, format="json")
        assert response.status_code == 400, (field, response.content)
        assert response.json()["code"] == "null_characters_not_allowed"
    assert state() == before
