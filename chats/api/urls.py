"""API routes of this app (mounted under /api/v1/); ids are matched loosely so a bad one is a JSON 404."""
from django.urls import path

from chats.api import views

urlpatterns = [
    path("conversations/", views.ConversationListView.as_view(), name="api-conversations"),
    path("conversations/<str:conversation_id>/", views.ConversationDetailView.as_view(), name="api-conversation"),
    path(
        "conversations/<str:conversation_id>/messages/",
        views.MessageListView.as_view(),
        name="api-conversation-messages",
    ),
    path("presets/", views.PresetListView.as_view(), name="api-presets"),
    path("presets/<str:preset_id>/", views.PresetDetailView.as_view(), name="api-preset"),
]
