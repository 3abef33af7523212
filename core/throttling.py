"""Throttles over Django's cache (Redis when configured, so limits hold across processes): the API per user and per
address, tighter scoped limits, and failed sign-ins. Rates are read from settings on every request."""
import abc
import hashlib
import logging
import math
import re

from django.conf import settings
from redis.exceptions import RedisError
from rest_framework import throttling

logger = logging.getLogger("parley.throttling")

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(s|sec|second|m|min|minute|h|hour|d|day)s?\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """`600/min`, `10/15min`, `5/s`, `100/2h` → (requests, seconds); a malformed rate is a configuration error."""
    match = _RATE.match(rate or "")
    if match is None:
        raise ValueError(f"A rate looks like 600/min or 10/15min, not {rate!r}.")
    count, multiple, unit = int(match[1]), int(match[2] or 1), match[3][0]
    return count, multiple * _SECONDS[unit]


class SettingsRateThrottle(throttling.SimpleRateThrottle, abc.ABC):
    """A sliding-window throttle whose rate is the setting named by `rate_setting`; a subclass gives `scope`,
    `rate_setting` and `ident(request, view)` (None: this throttle does not apply to the request)."""

    rate_setting: str = ""

    def get_rate(self):
        return getattr(settings, self.rate_setting)

    def parse_rate(self, rate):
        return parse_rate(rate)

    @abc.abstractmethod
    def ident(self, request, view) -> str | None:
        """Whom this request counts against, or None when the throttle does not apply to it."""

    def allow_request(self, request, view):
        # While the cache (Redis) is down, requests go unthrottled rather than failing with it: the API stays up.
        try:
            return super().allow_request(request, view)
        except (RedisError, OSError) as exc:
            logger.warning("Throttle %s not applied: the cache does not answer (%r)", self.scope, exc)
            return True

    def get_cache_key(self, request, view):
        ident = self.ident(request, view)
        if ident is None:
            return None
        # The prefix lets each test run (and each test) count on its own without flushing a shared Redis.
        return f"{settings.PARLEY_THROTTLE_PREFIX}:{self.scope}:{ident}"

    def wait(self):
        """Whole seconds until a request is allowed again: until the oldest one in the window leaves it."""
        if not self.history:
            return self.duration
        return max(1, math.ceil(self.duration - (self.now - self.history[-1])))


class UserRateThrottle(SettingsRateThrottle):
    scope = "user"
    rate_setting = "PARLEY_API_RATE_USER"

    def ident(self, request, view):
        user = getattr(request, "user", None)
        return str(user.pk) if user is not None and user.is_authenticated else None


class AnonRateThrottle(SettingsRateThrottle):
    scope = "anon"
    rate_setting = "PARLEY_API_RATE_ANON"

    def ident(self, request, view):
        user = getattr(request, "user", None)
        return None if user is not None and user.is_authenticated else self.get_ident(request)


class CatalogRefreshThrottle(UserRateThrottle):
    """`GET /models/?refresh=1` asks every provider upstream: a few per minute per user."""

    scope = "catalog_refresh"
    rate_setting = "PARLEY_CATALOG_REFRESH_RATE"

    def ident(self, request, view):
        if request.query_params.get("refresh") not in ("1", "true", "yes"):
            return None
        return super().ident(request, view)


class KeyValidationThrottle(UserRateThrottle):
    """`POST /keys/{id}/validate/` calls the provider each time."""

    scope = "key_validation"
    rate_setting = "PARLEY_KEY_VALIDATION_RATE"


class FailedLoginThrottle(SettingsRateThrottle):
    """Failed sign-ins of one account, or from one address: once the window holds PARLEY_LOGIN_ATTEMPTS of them,
    every attempt (the right password too) is refused until the oldest leaves the window."""

    def __init__(self, *, scope: str, ident: str):
        self.scope, self._ident = scope, ident
        super().__init__()

    def get_rate(self):
        return f"{settings.PARLEY_LOGIN_ATTEMPTS}/{settings.PARLEY_LOGIN_WINDOW_SECONDS}s"

    def ident(self, request, view):
        return self._ident

    def blocked_for(self) -> int | None:
        """Seconds until an attempt is allowed again, or None when it is allowed now."""
        self.key = self.get_cache_key(None, None)
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        return self.wait() if len(self.history) >= self.num_requests else None

    def record_failure(self) -> None:
        self.blocked_for()  # loads the window
        self.throttle_success()  # DRF's name for "count this one"


def failed_login_throttles(request, username: str) -> list[FailedLoginThrottle]:
    """The account's and the address's counters (the name hashed: any text may arrive as a username)."""
    account = hashlib.sha256(username.strip().lower().encode("utf-8", "surrogatepass")).hexdigest()[:32]
    address = throttling.BaseThrottle().get_ident(request)
    return [FailedLoginThrottle(scope="login_account", ident=account),
            FailedLoginThrottle(scope="login_address", ident=address)]


RATE_SETTINGS = ("PARLEY_API_RATE_USER", "PARLEY_API_RATE_ANON", "PARLEY_CATALOG_REFRESH_RATE",
                 "PARLEY_KEY_VALIDATION_RATE")


def check_rate_settings() -> None:
    from django.core.exceptions import ImproperlyConfigured

    for name in RATE_SETTINGS:
        try:
            parse_rate(getattr(settings, name))
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name}: {exc}") from None
