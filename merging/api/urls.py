"""API routes of this app (mounted under /api/v1/); ids are matched loosely so a bad one is a JSON 404."""
from django.urls import path

from merging.api import compare, views

urlpatterns = [
    path("compare/", compare.compare_view, name="api-compare"),
    path("merges/", views.MergeListView.as_view(), name="api-merges"),
    path("merges/<str:job_id>/", views.MergeDetailView.as_view(), name="api-merge"),
    path("merges/<str:job_id>/stream/", views.merge_stream, name="api-merge-stream"),
    path("messages/<str:message_id>/select/", views.MessageSelectView.as_view(), name="api-message-select"),
]
