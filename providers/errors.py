"""Provider failures, each with a user-readable message, a stable code, `retryable` and an HTTP status."""


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
