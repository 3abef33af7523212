"""Uploaded files: who owns them, what their bytes are, where they are stored, and the message using them."""
import uuid

from django.conf import settings
from django.db import models


class UploadKind(models.TextChoices):
    IMAGE = "image"
    PDF = "pdf"
    TEXT = "text"


class Upload(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="uploads")
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)  # sniffed from the bytes, never the client's claim
    kind = models.CharField(max_length=16, choices=UploadKind.choices)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    # The name in the uploads storage; made by Parley (never from the client's file name).
    storage_path = models.CharField(max_length=300, unique=True)
    metadata = models.JSONField(default=dict, blank=True)  # width/height of images, pages of PDFs
    extracted_text = models.TextField(blank=True)  # a PDF's text, for models that cannot read PDFs
    # SET_NULL, not CASCADE: the row outlives its message so the retention task can delete the file too.
    message = models.ForeignKey("chats.Message", on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="uploads")
    attached_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)  # unattached uploads only

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"]), models.Index(fields=["expires_at"])]

    def __str__(self) -> str:
        return self.name
