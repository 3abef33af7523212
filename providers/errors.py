"""Provider failures, each with a user-readable message, a stable code, `retryable` and an HTTP status."""
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from rest_framework.exceptions import APIException


class ProviderError(Exception):
    code = "provider_error"
    retryable = False
    status_code = 502  # what Parley's API answers when this happens before a stream starts

    def __init__(self, message: str = "", *, provider: str = "", upstream_status: int | None = None,
                 retry_after: float | None = None):
        self.message = message or self.default_message()
        self.provider = provider
        self.upstream_status = upstream_status
        self.retry_after = retry_after
        super().__init__(self.message)

    def default_message(self) -> str:
        return "The model provider returned an error."

    def as_event(self) -> dict:
        return {"code": self.code, "message": self.message, "retryable": self.retryable}

    def as_api_exception(self) -> APIException:
        """How Parley's API answers this error when it happens before a stream starts (the one place)."""
        answer = APIException(detail=self.message, code=self.code)
        answer.status_code = self.status_code
        return answer


class UnknownProvider(ProviderError):
    code = "unknown_provider"
    status_code = 400


class ProviderNotConfigured(ProviderError):
    code = "provider_not_configured"
    status_code = 400


class InvalidModelName(ProviderError):
    code = "invalid_model"
    status_code = 400


class InvalidApiKey(ProviderError):
    code = "invalid_api_key"


class KeyUndecryptable(ProviderError):
    code = "key_undecryptable"
    status_code = 400


class InsufficientCredit(ProviderError):
    code = "insufficient_credit"


class ModelNotFound(ProviderError):
    code = "model_not_found"
    status_code = 400


class BadRequest(ProviderError):
    code = "bad_request"


class ContentFiltered(ProviderError):
    code = "content_filtered"


class RateLimited(ProviderError):
    code = "rate_limited"
    retryable = True
    status_code = 429


class Overloaded(ProviderError):
    code = "overloaded"
    retryable = True
    status_code = 503


class UpstreamServerError(ProviderError):
    code = "upstream_error"
    retryable = True


class ProviderUnreachable(ProviderError):
    code = "provider_unreachable"
    retryable = True
    status_code = 503


class ProviderTimeout(ProviderError):
    code = "timeout"
    retryable = True
    status_code = 503


class StreamTruncated(ProviderError):
    code = "stream_truncated"
    retryable = True

    def default_message(self) -> str:
        return "The provider's stream ended before its end marker; the reply is incomplete."


class BlockedEndpoint(ProviderError):
    code = "blocked_endpoint"
    status_code = 400


_SECRET_PATTERN = re.compile(r"\b(sk|pk|xai|pplx|AIza|key)[-_A-Za-z0-9*]{6,}|\b[A-Za-z0-9_\-*]{32,}\b")


def scrub(text: str, secret: str = "") -> str:
    """Remove anything key-shaped from an upstream message (OpenAI echoes part of a rejected key)."""
    if secret:
        text = text.replace(secret, "…")
    return _SECRET_PATTERN.sub("…", text)[:500]


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
        except (TypeError, ValueError):
            return None


def for_status(status: int, *, provider: str, name: str, detail: str = "", kind: str = "",
               retry_after: float | None = None) -> ProviderError:
    """The error class for an upstream HTTP status (refined by the provider's error `kind`), with a readable message."""
    kind = (kind or "").lower()
    said = f": {detail}" if detail else ""
    common = {"provider": provider, "upstream_status": status, "retry_after": retry_after}
    if status in (401, 403) or "api_key" in kind or "authentication" in kind or "permission" in kind:
        # The upstream text may quote the key, so it is not repeated.
        return InvalidApiKey(f"{name} rejected the API key (HTTP {status}). Check or re-enter the key.", **common)
    # Anthropic says "credit balance is too low" with a plain 400; a 429 that mentions credits is still a rate limit.
    low_credit = status in (400, 403) and "credit balance" in detail.lower()
    if status == 402 or "insufficient_quota" in kind or "billing" in kind or low_credit:
        return InsufficientCredit(f"{name} reports insufficient credit or quota{said}", **common)
    if status == 429:
        return RateLimited(f"{name} is rate limiting requests{said}", **common)
    if status == 529 or "overloaded" in kind or status == 503:
        return Overloaded(f"{name} is overloaded right now{said}", **common)
    if status == 408:
        return ProviderTimeout(f"{name} timed out{said}", **common)
    if status == 404 or "not_found" in kind:
        return ModelNotFound(f"{name} does not know this model{said}", **common)
    if status >= 500:
        return UpstreamServerError(f"{name} had a server error (HTTP {status}){said}", **common)
    if status in (400, 413, 422):
        return BadRequest(f"{name} refused the request (HTTP {status}){said}", **common)
    return ProviderError(f"{name} answered HTTP {status}{said}", **common)
