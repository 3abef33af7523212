"""Async API views (the streaming endpoints): authentication as the API does it, and errors in the API's envelope.

A streaming view is a plain async Django view, so a stream holds no thread. ``streaming_view`` authenticates
first, counts the request against the caller's API rate and answers every error raised before the stream starts
as the API's JSON error body (``error_answer``); ``documented_by`` lets drf-spectacular describe it.
"""
import functools

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.authentication import CSRFCheck, SessionAuthentication
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from core.db_workers import db_call
from core.exceptions import PayloadTooLarge, api_exception_handler, as_api_exception
from core.json_limits import declared_length, loads_limited, max_json_bytes, too_large
from core.origins import CrossSiteRequest, cross_site
from core.throttling import UserRateThrottle


def error_json(detail: str, code: str, status: int, headers: dict | None = None) -> JsonResponse:
    return JsonResponse({"detail": detail, "code": code}, status=status, headers=headers)


def error_answer(exc: Exception) -> JsonResponse:
    """The API's answer to an error (the same body and status as a DRF view's); re-raises what has none."""
    exc = as_api_exception(exc)
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        return error_json(str(exc.detail), exc.default_code, 401, headers={"WWW-Authenticate": "Bearer"})
    response = api_exception_handler(exc, {})
    if response is None:
        raise exc
    retry_after = response.headers.get("Retry-After")
    return JsonResponse(response.data, status=response.status_code,
                        headers={"Retry-After": retry_after} if retry_after else None)


@functools.cache
def _header_authenticators() -> tuple:
    """The API's configured authenticators other than the session (Bearer tokens), in their order."""
    return tuple(cls() for cls in api_settings.DEFAULT_AUTHENTICATION_CLASSES
                 if not issubclass(cls, SessionAuthentication))


async def authenticate(request):
    """The user, like the API does it: a Bearer token, or the session (with CSRF on unsafe methods).

    An authenticator with an `aauthenticate` coroutine is awaited on the loop (no thread hop); others run on a
    database worker thread."""
    for authenticator in _header_authenticators():
        try:
            if hasattr(authenticator, "aauthenticate"):
                result = await authenticator.aauthenticate(request)
            else:
                result = await db_call(authenticator.authenticate, request)
        except exceptions.AuthenticationFailed as exc:
            exc.status_code = 401  # as DRF answers it (code "authentication_failed"), not its default 403
            raise
        if result is not None:
            request.user = result[0]
            return result[0]
    user = await request.auser()
    if not user.is_authenticated:
        raise exceptions.NotAuthenticated()
    # Every streaming view may start or follow work (a GET of /stream/ starts a reply): same-origin only. Checked
    # before CSRF so a cross-site request is told so (code cross_site).
    if cross_site(request):
        raise CrossSiteRequest()
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        check = CSRFCheck(lambda _request: None)
        check.process_request(request)
        refused = check.process_view(request, None, (), {})
        if refused is not None:
            raise exceptions.PermissionDenied(f"CSRF Failed: {refused}")
    return user


def json_body(request) -> dict:
    length = declared_length(request.META)
    if length is not None and length > max_json_bytes():
        raise too_large()
    try:
        raw = request.body
    except RequestDataTooBig:
        # Over DATA_UPLOAD_MAX_MEMORY_SIZE: the SPEC's 413 as JSON, not Django's 400 page.
        raise PayloadTooLarge("The request body is too large.")
    body = loads_limited(raw or b"{}")
    if not isinstance(body, dict):
        raise exceptions.ParseError("The body must be a JSON object.")
    return body


def streaming_view(view=None, *, methods: tuple[str, ...] = ("GET",)):
    """An async view `view(request, user, ...)` that authenticates first and answers every error before the stream
    as JSON; other methods than `methods` are 405 (after authentication, as DRF does), so a GET never cancels or
    starts anything."""
    if view is None:
        return lambda view: streaming_view(view, methods=methods)

    @csrf_exempt
    async def wrapped(request, *args, **kwargs):
        try:
            user = await authenticate(request)
            if _cache_in_process():
                check_api_rate(request, user)  # an in-memory cache: nothing to wait for
            else:
                await db_call(check_api_rate, request, user)
            if request.method not in methods:
                return error_json(f'Method "{request.method}" not allowed.', "method_not_allowed", 405,
                                  headers={"Allow": ", ".join(methods)})
            return await view(request, user, *args, **kwargs)
        except Exception as exc:
            return error_answer(exc)

    wrapped.__name__ = view.__name__
    return wrapped


def _cache_in_process() -> bool:
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    return isinstance(caches["default"], LocMemCache)


def check_api_rate(request, user) -> None:
    """Streaming requests count against the caller's API rate like every DRF view (429 with Retry-After)."""
    request.user = user
    throttle = UserRateThrottle()
    if not throttle.allow_request(request, None):
        raise exceptions.Throttled(wait=throttle.wait())


def documented_by(schema_view: type[APIView]):
    """Let drf-spectacular describe an async view through a DRF view class that carries only its schema."""

    def attach(view):
        view.cls = schema_view
        view.initkwargs = {}
        return view

    return attach
