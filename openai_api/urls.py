"""The OpenAI-compatible gateway under /v1/ (an OpenAI SDK's base_url is http(s)://HOST/v1)."""
from django.urls import path

from openai_api import views

urlpatterns = [
    path("chat/completions", views.chat_completions, name="openai-chat-completions"),
    path("models", views.models, name="openai-models"),
]
