"""The OpenAPI schema builds without a warning, and every endpoint documents its errors with the shared shape."""
import io

import pytest
import yaml
from django.core.management import call_command

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(django_db_blocker, tmp_path_factory):
    path = tmp_path_factory.mktemp("schema") / "schema.yaml"
    with django_db_blocker.unblock():
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path), stderr=io.StringIO())
    return yaml.safe_load(path.read_text())


def test_schema_validates_with_no_warnings(schema):
    assert schema["openapi"].startswith("3.")
    assert "Error" in schema["components"]["schemas"]
    assert set(schema["components"]["schemas"]["Error"]["properties"]) >= {"detail", "code"}


def test_every_operation_documents_its_errors(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation["responses"]
            assert any(code.startswith("2") for code in responses), (method, path)
            errors = [code for code in responses if code[0] in "45"]
            assert errors, f"{method.upper()} {path} documents no error response"


def test_foundation_endpoints_are_documented(schema):
    paths = schema["paths"]
    for path, methods in {
        "/api/v1/health/": {"get"},
        "/api/v1/tokens/": {"get", "post"},
        "/api/v1/tokens/{token_id}/": {"delete"},
        "/api/v1/keys/": {"get", "post"},
        "/api/v1/keys/{key_id}/": {"delete"},
        "/api/v1/conversations/": {"get", "post"},
        "/api/v1/conversations/{conversation_id}/": {"get", "patch", "delete"},
        "/api/v1/conversations/{conversation_id}/messages/": {"get", "post", "delete"},
        "/api/v1/presets/": {"get", "post"},
        "/api/v1/presets/{preset_id}/": {"get", "patch", "delete"},
    }.items():
        assert methods <= set(paths[path]), path
    message_post = paths["/api/v1/conversations/{conversation_id}/messages/"]["post"]["responses"]
    assert {"201", "400", "404", "413"} <= set(message_post)
    assert message_post["413"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
