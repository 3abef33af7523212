"""API routes of this app (mounted under /api/v1/); ids are matched loosely so a bad one is a JSON 404."""
from django.urls import path

from chats.api import streaming, views

urlpatterns = [
    path("conversations/", views.ConversationListView.as_view(), name="api-conversations"),
    path("conversations/import/", views.ConversationImportView.as_view(), name="api-conversations-import"),
    path("conversations/<str:conversation_id>/", views.ConversationDetailView.as_view(), name="api-conversation"),
    path("conversations/<str:conversation_id>/export/", views.ConversationExportView.as_view(),
         name="api-conversation-export"),
    path("conversations/<str:conversation_id>/share/", views.ConversationShareView.as_view(),
         name="api-conversation-share"),
    path(
        "conversations/<str:conversation_id>/messages/",
        views.MessageListView.as_view(),
        name="api-conversation-messages",
    ),
    # Streaming (chats/api/streaming.py)
    path("conversations/<str:conversation_id>/stream/", streaming.conversation_stream, name="api-conversation-stream"),
    path(
        "conversations/<str:conversation_id>/completions/",
        streaming.conversation_completions,
        name="api-conversation-completions",
    ),
    path("chat/stream/", streaming.chat_stream, name="api-chat-stream"),
    path("generations/<str:generation_id>/", streaming.GenerationDetailView.as_view(), name="api-generation"),
    path("generations/<str:generation_id>/stream/", streaming.generation_stream, name="api-generation-stream"),
    path("generations/<str:generation_id>/cancel/", streaming.generation_cancel_view, name="api-generation-cancel"),
    path("generations/<str:generation_id>/tool-approval/", streaming.GenerationToolApprovalView.as_view(),
         name="api-generation-tool-approval"),
    # The tree (chats/tree.py); select is merging's /messages/{id}/select/
    path("messages/<str:message_id>/", views.MessageDetailView.as_view(), name="api-message"),
    path("messages/<str:message_id>/regenerate/", streaming.message_regenerate, name="api-message-regenerate"),
    path("messages/<str:message_id>/continue/", streaming.message_continue, name="api-message-continue"),
    path("presets/", views.PresetListView.as_view(), name="api-presets"),
    path("presets/<str:preset_id>/", views.PresetDetailView.as_view(), name="api-preset"),
]
