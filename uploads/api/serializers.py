"""Request and response shapes of uploads and speech-to-text tokens."""
from rest_framework import serializers

from uploads.models import Upload, UploadKind


class UploadSerializer(serializers.ModelSerializer):
    message_id = serializers.UUIDField(read_only=True, allow_null=True)
    metadata = serializers.DictField(read_only=True, help_text="`width`/`height` of an image, `pages` of a PDF.")

    class Meta:
        model = Upload
        fields = ["id", "name", "content_type", "size", "kind", "sha256", "metadata", "message_id", "created_at",
                  "expires_at"]
        read_only_fields = fields


class UploadCreateSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The file (multipart/form-data). Its type is decided from its bytes.")


class AttachmentSerializer(serializers.Serializer):
    """An attachment as a message shows it."""

    id = serializers.UUIDField()
    name = serializers.CharField()
    content_type = serializers.CharField()
    kind = serializers.ChoiceField(choices=UploadKind.choices)
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    url = serializers.CharField(help_text="Where its bytes are served (`GET /api/v1/uploads/{id}/content/`).")


class SttTokenSerializer(serializers.Serializer):
    access_token = serializers.CharField(help_text="A short-lived Deepgram token for the browser's live socket.")
    expires_in = serializers.IntegerField(help_text="Seconds the token is valid.")
