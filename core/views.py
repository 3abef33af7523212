"""JSON error pages for the API, HTML ones for the UI."""
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.shortcuts import render
from django.views import csrf, defaults
from django.views.decorators.csrf import csrf_exempt


# Exempt: an unknown /api/v1/ path is a JSON 404 for every method, not a CSRF 403 page for a POST.
@csrf_exempt
def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    return render(request, "404.html", status=404)


def bad_request(request, exception=None):
    if request.path.startswith("/api/"):
        if isinstance(exception, RequestDataTooBig):
            return JsonResponse({"detail": "The request body is too large.", "code": "too_large"}, status=413)
        return JsonResponse({"detail": "Bad request.", "code": "bad_request"}, status=400)
    return defaults.bad_request(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Internal server error.", "code": "server_error"}, status=500)
    return render(request, "500.html", status=500)


def database_unavailable(request):
    from core.exceptions import DatabaseUnavailable

    return JsonResponse({"detail": str(DatabaseUnavailable.default_detail), "code": DatabaseUnavailable.default_code},
                        status=503)


def csrf_failure(request, reason=""):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": f"CSRF Failed: {reason}", "code": "csrf_failed"}, status=403)
    return csrf.csrf_failure(request, reason=reason)
