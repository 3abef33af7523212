"""Top-level URL map: the web UI, the admin, the API and its documentation."""
from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from core import views as core_views

api_v1 = [
    path("", include("core.api.urls")),
    path("", include("accounts.api.urls")),
    path("", include("providers.api.urls")),
    path("", include("chats.api.urls")),
    path("", include("merging.api.urls")),
    path("", include("uploads.api.urls")),
    path("", include("tools.api.urls")),
    path("", include("usage.api.urls")),
    # Last: any other /api/v1/ path is a JSON 404, in DEBUG too.
    re_path(r"", core_views.not_found, name="api-not-found"),
]

urlpatterns = [
    # One sign-in page for everyone, so its throttling guards the admin too (`?next=` brings admins back).
    path("admin/login/", RedirectView.as_view(pattern_name="login", query_string=True)),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("v1/", include("openai_api.urls")),  # the OpenAI-compatible gateway (SPEC §9)
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file of its own: the CSP allows no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    # ReDoc's sidebar always shows its maker's logo from their CDN; the page shows no user content, so that one
    # image host is allowed here and nowhere else.
    path("api/redoc/", csp_update({"img-src": "https://cdn.redoc.ly"})(SpectacularRedocView.as_view(url_name="schema")),
         name="redoc"),
    # Any other /api/ path is a JSON 404 too, with DEBUG on as well (Django's HTML page is for people).
    re_path(r"^api/", core_views.not_found, name="api-not-found"),
    path("", include("web.urls")),
]

handler400 = "core.views.bad_request"
handler404 = "core.views.not_found"
handler500 = "core.views.server_error"
