"""Pages of the built-in web UI."""
from django.contrib.auth import views as auth_views
from django.urls import path

from web import tools_pages, usage_pages, views

urlpatterns = [
    path("", views.home, name="home"),
    path("signup/", views.signup, name="signup"),
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("c/<uuid:conversation_id>/", views.conversation, name="conversation"),
    path("compare/", views.compare, name="compare"),
    path("merge/", views.merge, name="merge"),
    path("presets/", views.presets, name="presets"),
    path("settings/", views.account_settings, name="settings"),
    path("settings/keys/", views.keys, name="keys"),
    path("settings/tokens/", views.tokens, name="tokens"),
    path("usage/", usage_pages.usage_page, name="usage"),
    path("usage/users/", usage_pages.usage_admin_page, name="usage-admin"),
    path("settings/tokens/<int:token_id>/revoke/", views.token_revoke, name="token-revoke"),
    path("s/<str:token>/", views.shared, name="shared"),
    path("tools/", tools_pages.tools_page, name="tools"),
    path("tools/<int:server_id>/<slug:action>/", tools_pages.tools_server_action, name="tools-server-action"),
]
