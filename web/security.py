"""Content-Security-Policy for UI pages: script only from our own static files, so stray markup cannot run."""
from functools import wraps

from uploads.speech import live_origin


def speech_origin() -> str:
    """The composer's microphone streams to Deepgram's live socket (when STT is configured)."""
    origin = live_origin()
    return f" {origin}" if origin else ""


def content_security_policy(view):
    """Send a CSP that forbids inline and foreign script; model output is sanitised too, this is the second wall."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        host = request.get_host()
        response.headers.setdefault(
            "Content-Security-Policy",
            "; ".join(
                [
                    "default-src 'self'",
                    "script-src 'self'",
                    # Inline style attributes (layout tweaks, highlight.js) are harmless; inline script is not.
                    "style-src 'self' 'unsafe-inline'",
                    "img-src 'self' data: https:",
                    f"connect-src 'self' ws://{host} wss://{host}{speech_origin()}",
                    "object-src 'none'",
                    "base-uri 'none'",
                    "form-action 'self'",
                    "frame-ancestors 'none'",
                ]
            ),
        )
        return response

    return wrapped
