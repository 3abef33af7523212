"""Speech-to-text: a short-lived Deepgram token minted with the server's key, for the browser's live socket."""
import logging

import httpx
from django.conf import settings

from core.throttling import UserRateThrottle
from uploads.errors import SttNotConfigured, SttRefused

logger = logging.getLogger("parley.stt")


class SttTokenThrottle(UserRateThrottle):
    """PARLEY_STT_TOKENS_PER_MINUTE tokens per user (read per request, so tests and deployments can change it)."""

    scope = "stt_token"

    def get_rate(self) -> str:
        return f"{settings.PARLEY_STT_TOKENS_PER_MINUTE}/min"


def stt_configured() -> bool:
    return bool(settings.DEEPGRAM_API_KEY)


def live_url() -> str:
    """Deepgram's live transcription socket, on the host of DEEPGRAM_BASE_URL."""
    base = settings.DEEPGRAM_BASE_URL.rstrip("/")
    scheme, _, rest = base.partition("://")
    return f"{'ws' if scheme == 'http' else 'wss'}://{rest}/v1/listen"


def live_origin() -> str:
    """The origin of that socket, for the pages' CSP connect-src; empty when STT is not configured."""
    if not stt_configured():
        return ""
    return "/".join(live_url().split("/", 3)[:3])  # scheme://host[:port]


def deepgram_token() -> dict:
    """{"access_token", "expires_in"} from POST {DEEPGRAM_BASE_URL}/v1/auth/grant; the key stays here."""
    key = settings.DEEPGRAM_API_KEY
    if not key:
        raise SttNotConfigured()
    url = settings.DEEPGRAM_BASE_URL.rstrip("/") + "/v1/auth/grant"
    try:
        response = httpx.post(url, headers={"Authorization": f"Token {key}"},
                              json={"ttl_seconds": settings.PARLEY_STT_TOKEN_TTL}, timeout=10)
    except httpx.HTTPError as exc:
        logger.warning("Deepgram could not be reached for a token (%s).", type(exc).__name__)
        raise SttRefused("Deepgram could not be reached.", code="stt_unreachable") from None
    if response.status_code != 200:
        # Deepgram's body is not passed on: it is the provider's wording, and may quote the request.
        logger.warning("Deepgram refused a token: HTTP %s.", response.status_code)
        raise SttRefused(f"Deepgram refused to issue a token (HTTP {response.status_code}).")
    try:
        body = response.json()
        token, expires_in = body["access_token"], int(body.get("expires_in") or settings.PARLEY_STT_TOKEN_TTL)
    except (ValueError, KeyError, TypeError):
        raise SttRefused("Deepgram answered without a token.") from None
    if not isinstance(token, str) or not token:
        raise SttRefused("Deepgram answered without a token.")
    return {"access_token": token, "expires_in": expires_in}
