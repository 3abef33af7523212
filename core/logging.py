"""Log records: request ids carried in a context variable, and secrets redacted before output."""
import contextvars
import logging
import re

from django.views.debug import SafeExceptionReporterFilter

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


# Credentials as they may appear in messages, URLs or tracebacks: Authorization headers, key query
# parameters (Gemini's ?key=), provider key shapes and Parley's own API tokens.
_SECRET_PATTERNS = [
    (re.compile(r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?(?:bearer|basic|token)?\s*)[^\s\"',}]+"), r"\1[redacted]"),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\1[redacted]"),
    (re.compile(r"(?i)\b((?:x-api-key|x-goog-api-key|api[_-]?key|access_token|key)[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]{8,}"),
     r"\1[redacted]"),
    (re.compile(r"\b(?:sk|pk|xai|pplx|gsk)[-_][A-Za-z0-9_-]{16,}"), "[redacted]"),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{20,}"), "[redacted]"),
    (re.compile(r"\bgAAAAA[0-9A-Za-z_=-]{20,}"), "[redacted]"),  # Fernet ciphertext
    # A password in a URL's user part (DATABASE_URL, REDIS_URL, an endpoint written with one).
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^/\s@]+@"), r"\1[redacted]@"),
]


def redact_secrets(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class SecretRedactionFilter(logging.Filter):
    """Rewrites a record's message and traceback text with credentials replaced by `[redacted]`."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is logged as it is rather than dropped
            return True
        redacted = redact_secrets(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_secrets(record.exc_text)
        return True


class SecretSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    """Error reports (DEBUG pages, admin e-mails) also hide Authorization headers and provider settings."""

    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|AUTHORIZATION|PROVIDER_ENV|DATABASE_URL|REDIS_URL|BROKER",
        flags=re.IGNORECASE,
    )
