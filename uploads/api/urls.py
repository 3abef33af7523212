"""API routes of uploads and speech-to-text (mounted under /api/v1/); a malformed id is a JSON 404."""
from django.urls import path

from uploads.api import views

urlpatterns = [
    path("uploads/", views.UploadListView.as_view(), name="api-uploads"),
    path("uploads/<str:upload_id>/", views.UploadDetailView.as_view(), name="api-upload"),
    path("uploads/<str:upload_id>/content/", views.UploadContentView.as_view(), name="api-upload-content"),
    path("stt/deepgram/token/", views.SttTokenView.as_view(), name="api-stt-deepgram-token"),
]
