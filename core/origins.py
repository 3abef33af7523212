"""Whose page a request comes from: its own origin or CSRF_TRUSTED_ORIGINS, judged as Django's CSRF check does.

Used by the WebSocket handshake (config.websocket_origin) and by session-authenticated requests that start work
(`cross_site`): Fetch Metadata first, then Origin, then Referer; a request that sends none is not a browser's.
"""
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.http import is_same_domain
from rest_framework import exceptions


class CrossSiteRequest(exceptions.PermissionDenied):
    default_detail = ("This request came from another site's page; signed-in browser requests that start work must "
                      "come from Parley's own pages (or use an API token).")
    default_code = "cross_site"


_DEFAULT_PORT = {"http": 80, "https": 443}
SAME_SITE_FETCHES = ("same-origin", "none")  # `none`: the user typed the address or used a bookmark


def _origin_tuple(scheme: str, netloc: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) with the scheme's default port filled in; None when it is not an http(s) origin."""
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        port = parts.port
    except ValueError:
        return None
    if scheme not in _DEFAULT_PORT or not parts.hostname:
        return None
    return scheme, parts.hostname, port or _DEFAULT_PORT[scheme]


def origin_trusted(origin: str) -> bool:
    """Listed in CSRF_TRUSTED_ORIGINS, exactly or by a `https://*.example.com` wildcard."""
    trusted = settings.CSRF_TRUSTED_ORIGINS
    if origin in trusted:
        return True
    parsed = urlsplit(origin)
    for entry in trusted:
        if "*" not in entry:
            continue
        entry_parts = urlsplit(entry)
        domain = entry_parts.netloc.replace("*", "", 1)
        if entry_parts.scheme == parsed.scheme and is_same_domain(parsed.netloc, domain):
            return True
    return False


def origin_matches(origin: str, *, scheme: str, host: str) -> bool:
    """`origin` (scheme://host[:port]) is the one of a request to `host` over `scheme`, or a trusted one."""
    if origin_trusted(origin):
        return True
    parsed = urlsplit(origin.strip().lower())
    claimed = _origin_tuple(parsed.scheme, parsed.netloc)
    own = _origin_tuple(scheme, host.strip().lower()) if host else None
    return claimed is not None and claimed == own


def cross_site(request) -> bool:
    """Whether a browser sent this request from another site's page (Fetch Metadata, else Origin, else Referer).

    A page of one of CSRF_TRUSTED_ORIGINS (a separate frontend) counts as our own, as for Django's CSRF check.
    """
    fetch_site = request.headers.get("Sec-Fetch-Site", "").strip().lower()
    if fetch_site in SAME_SITE_FETCHES:
        return False
    origin = request.headers.get("Origin", "").strip()
    if origin and origin != "null" and origin_trusted(origin):
        return False
    if fetch_site:
        return True
    scheme, host = request.scheme, request.get_host()
    if origin:
        return origin == "null" or not origin_matches(origin, scheme=scheme, host=host)
    referer = request.headers.get("Referer", "").strip()
    if referer:
        parts = urlsplit(referer)
        return not origin_matches(f"{parts.scheme}://{parts.netloc}", scheme=scheme, host=host)
    return False
