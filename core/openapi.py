"""OpenAPI helpers: the shared error component and the error responses each endpoint documents."""
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, OpenApiTypes

from core.serializers import ErrorSerializer

_ERRORS = {
    400: "Bad input: invalid JSON, unknown field, invalid value (code says which).",
    401: "Not authenticated: no session and no valid `Authorization: Bearer` token.",
    402: "The monthly budget is used up (code `budget_exceeded`; the detail gives the spent and limit figures).",
    403: "Forbidden, e.g. a session request without its CSRF token, or from another site's page (`cross_site`).",
    404: "No such object, or it belongs to someone else.",
    409: "Conflicts with the current state.",
    413: "Too large (code `too_large`).",
    429: "Too many requests (code `throttled`); `Retry-After` says how many seconds to wait.",
    502: "The model provider returned an error.",
    503: "The model provider is unavailable (`provider_unavailable`), or the database is (`database_unavailable`).",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """{status: the shared Error component}; 401, 403, 429 (every endpoint is throttled) and 503 (every endpoint
    needs the database) are always included."""
    wanted = sorted({401, 403, 429, 503, *statuses})
    return {status: OpenApiResponse(ErrorSerializer, description=_ERRORS[status]) for status in wanted}


def id_parameter(name: str = "id", kind=OpenApiTypes.UUID, description: str = "") -> OpenApiParameter:
    return OpenApiParameter(name, kind, OpenApiParameter.PATH, description=description)
