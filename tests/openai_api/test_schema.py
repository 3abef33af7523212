"""The gateway is in the OpenAPI schema, with OpenAI's error shape."""
import io

import pytest
import yaml
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_v1_endpoints_are_documented(tmp_path):
    path = tmp_path / "schema.yaml"
    call_command("spectacular", "--fail-on-warn", "--file", str(path), stderr=io.StringIO())
    schema = yaml.safe_load(path.read_text())
    completions = schema["paths"]["/v1/chat/completions"]["post"]
    assert set(completions["responses"]) >= {"200", "400", "401", "404", "429", "502", "503"}
    assert "text/event-stream" in completions["responses"]["200"]["content"]
    assert "parley" in schema["components"]["schemas"]["ChatCompletionRequestRequest"]["properties"]
    assert "200" in schema["paths"]["/v1/models"]["get"]["responses"]
    assert "/v1/chat/completions/" not in schema["paths"]
    error = schema["components"]["schemas"]["OpenAIError"]["properties"]
    assert "error" in error
