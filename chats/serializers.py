"""The message as the API shows it: for chats' views, the live conversation sockets and merging alike (merging
imports nothing from chats.api)."""
from rest_framework import serializers

from chats.models import Message
from uploads.api.serializers import AttachmentSerializer


class MessageSerializer(serializers.ModelSerializer):
    conversation_id = serializers.UUIDField(read_only=True)
    reply_to = serializers.UUIDField(source="reply_to_id", read_only=True, allow_null=True)
    cost = serializers.DecimalField(max_digits=14, decimal_places=8, coerce_to_string=False, read_only=True,
                                    allow_null=True)
    usage = serializers.DictField(read_only=True)
    attachments = AttachmentSerializer(many=True, read_only=True)
    metadata = serializers.DictField(read_only=True)
    parent_id = serializers.UUIDField(read_only=True, allow_null=True,
                                      help_text="The message this one follows (null for a first message).")
    sibling_index = serializers.SerializerMethodField(help_text="Its place among its siblings, from 0.")
    sibling_count = serializers.SerializerMethodField(help_text="How many messages share its parent (itself too).")

    class Meta:
        model = Message
        fields = [
            "id", "conversation_id", "role", "content", "reasoning", "model", "status", "error", "error_code",
            "finish_reason", "usage", "cost", "latency_ms", "ttft_ms", "attachments", "metadata", "reply_to",
            "parent_id", "selected", "sibling_index", "sibling_count", "created_at",
        ]
        read_only_fields = fields

    def _siblings(self, obj) -> tuple[int, int]:
        """From the `siblings` map a list view passes (chats.tree.sibling_info), else read for this message."""
        known = self.context.get("siblings")
        if known is not None and obj.pk in known:
            return known[obj.pk]
        siblings = list(Message.objects.filter(conversation_id=obj.conversation_id, parent_id=obj.parent_id)
                        .order_by("created_at", "id").values_list("pk", flat=True))
        return (siblings.index(obj.pk) if obj.pk in siblings else 0), max(len(siblings), 1)

    def get_sibling_index(self, obj) -> int:
        return self._siblings(obj)[0]

    def get_sibling_count(self, obj) -> int:
        return self._siblings(obj)[1]
