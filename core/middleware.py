"""Request ids (X-Request-ID in, or a new one) for logs and responses; API paths without their trailing slash;
JSON errors under /api/ with DEBUG on."""
import logging
import re
import uuid

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404, JsonResponse
from django.urls import Resolver404, resolve
from django.utils.deprecation import MiddlewareMixin

from core.inline_middleware import OnLoop
from core.logging import request_id_var

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def _begin(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex[:16]
        request.request_id = request_id
        return request_id, request_id_var.set(request_id)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        request_id, token = self._begin(request)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response

    async def __acall__(self, request):
        request_id, token = self._begin(request)
        try:
            response = await self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


class ApiTrailingSlashMiddleware(OnLoop, MiddlewareMixin):
    """`/api/v1/health` is served as `/api/v1/health/`: clients (curl, httpx) do not follow a redirect by default
    and cannot repeat a POST body across one, and the API's catch-all would otherwise answer 404."""

    def process_request(self, request):
        path = request.path_info
        if not path.startswith("/api/") or path.endswith("/"):
            return None
        try:
            match = resolve(path + "/")
        except Resolver404:
            return None
        if match.url_name != "api-not-found":
            request.path_info = path + "/"
            request.path = request.path + "/"
        return None


class ApiDebugErrorsMiddleware(MiddlewareMixin):
    """With DEBUG on, Django answers a view's exception with its HTML debug page, ignoring handler404/handler500;
    API clients get the same JSON errors as in production (the traceback still goes to the log). A database that
    is down is a JSON 503 with DEBUG on or off (handler500 cannot tell it from a bug)."""

    def process_exception(self, request, exception):
        if not request.path.startswith("/api/"):
            return None
        from core import views
        from core.exceptions import DATABASE_DOWN_ERRORS

        if isinstance(exception, DATABASE_DOWN_ERRORS):
            logging.getLogger("parley.api").warning("The database is unavailable: %s", exception)
            return views.database_unavailable(request)
        if not settings.DEBUG:
            return None

        if isinstance(exception, Http404):
            return views.not_found(request, exception)
        if isinstance(exception, PermissionDenied):
            return JsonResponse({"detail": "You do not have permission to do this.", "code": "permission_denied"},
                                status=403)
        if isinstance(exception, (SuspiciousOperation, BadRequest)):
            return views.bad_request(request, exception)
        logging.getLogger("django.request").error("Internal Server Error: %s", request.path, exc_info=exception)
        return views.server_error(request)
