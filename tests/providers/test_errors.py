"""Upstream statuses → error classes with `retryable`; key-shaped text scrubbed; Retry-After in both forms."""
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from providers import errors


@pytest.mark.parametrize(("status", "kind", "detail", "expected", "retryable"), [
    (401, "", "", errors.InvalidApiKey, False),
    (403, "permission_error", "", errors.InvalidApiKey, False),
    (402, "", "Insufficient credits", errors.InsufficientCredit, False),
    (429, "insufficient_quota", "", errors.InsufficientCredit, False),
    (400, "invalid_request_error", "Your credit balance is too low", errors.InsufficientCredit, False),
    (429, "", "Rate limit exceeded: free-models-per-day. Add 10 credits to unlock more", errors.RateLimited, True),
    (529, "overloaded_error", "Overloaded", errors.Overloaded, True),
    (503, "", "", errors.Overloaded, True),
    (408, "", "", errors.ProviderTimeout, True),
    (404, "", "", errors.ModelNotFound, False),
    (500, "", "", errors.UpstreamServerError, True),
    (502, "", "", errors.UpstreamServerError, True),
    (400, "", "bad field", errors.BadRequest, False),
])
def test_for_status(status, kind, detail, expected, retryable):
    error = errors.for_status(status, provider="p", name="Provider", detail=detail, kind=kind)
    assert type(error) is expected
    assert error.retryable is retryable
    assert error.upstream_status == status
    assert error.as_event() == {"code": error.code, "message": error.message, "retryable": retryable}


def test_auth_errors_never_repeat_the_upstream_text():
    error = errors.for_status(401, provider="openai", name="OpenAI", detail="Incorrect API key provided: sk-pr****abcd")
    assert "sk-" not in error.message and "OpenAI rejected the API key" in error.message


def test_scrub_removes_keys():
    text = "bad key sk-proj-abc123def456 and AIzaSyA1234567890abcdef and my-secret-value"
    scrubbed = errors.scrub(text, "my-secret-value")
    assert "sk-proj" not in scrubbed and "AIza" not in scrubbed and "my-secret-value" not in scrubbed


def test_retry_after_seconds_and_http_date():
    assert errors.parse_retry_after("2") == 2.0
    assert errors.parse_retry_after("0.5") == 0.5
    assert errors.parse_retry_after(None) is None
    assert errors.parse_retry_after("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 < errors.parse_retry_after(later) <= 30
