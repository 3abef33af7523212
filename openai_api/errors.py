"""Gateway errors in OpenAI's shape, {"error": {"message", "type", "param", "code"}}, with statuses SDKs retry on."""
from django.http import JsonResponse
from rest_framework import exceptions

from providers import errors as provider_errors

TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
         404: "invalid_request_error", 413: "invalid_request_error", 429: "rate_limit_error"}


class GatewayError(Exception):
    """An answer the gateway gives instead of a completion; `retryable` becomes the SDKs' `x-should-retry`."""

    def __init__(self, message: str, *, status: int = 400, code: str = "invalid_request", param: str | None = None,
                 retryable: bool | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.param = param
        self.retryable = status == 429 or status >= 500 if retryable is None else retryable
        self.retry_after = retry_after

    @property
    def type(self) -> str:
        return TYPES.get(self.status, "server_error" if self.status >= 500 else "invalid_request_error")

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JsonResponse:
        headers = {"x-should-retry": "true" if self.retryable else "false"}
        if self.retry_after is not None:
            headers["Retry-After"] = str(max(0, round(self.retry_after)))
        if self.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return JsonResponse(self.body(), status=self.status, headers=headers)


# The model cannot be used by this caller: OpenAI answers 404 "does not exist or you do not have access to it".
_NOT_FOUND = (provider_errors.UnknownProvider, provider_errors.ProviderNotConfigured, provider_errors.ModelNotFound)


def from_provider_error(exc: provider_errors.ProviderError) -> GatewayError:
    status = 404 if isinstance(exc, _NOT_FOUND) else exc.status_code
    return GatewayError(exc.message, status=status, code=exc.code, param="model" if status == 404 else None,
                        retryable=exc.retryable, retry_after=exc.retry_after)


def from_api_exception(exc: exceptions.APIException) -> GatewayError:
    """A DRF exception raised by shared code (body parsing, size limits) in the gateway's shape."""
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return GatewayError(detail, status=exc.status_code, code=str(exc.default_code))
