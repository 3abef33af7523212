"""The OpenAI-compatible gateway under /v1/ (an OpenAI SDK's base_url is http(s)://HOST/v1)."""
from django.urls import path, re_path

from openai_api import views

urlpatterns = [
    path("chat/completions", views.chat_completions, name="openai-chat-completions"),
    path("models", views.models, name="openai-models"),
    # Clients that add a slash get the same endpoints; any other /v1/ path is an OpenAI-shaped 404.
    path("chat/completions/", views.alias(views.chat_completions)),
    path("models/", views.alias(views.models)),
    re_path(r"", views.not_found, name="openai-not-found"),
]
