"""Request and response shapes of compare and merge."""
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from chats.validation import AttachmentIdsField, ToolSpecsField
from core.serializers import StrictFieldsMixin
from merging.models import MergeHistory, MergeJob


class MergeCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    conversation_ids = serializers.ListField(
        child=serializers.CharField(), required=False, allow_empty=True,
        help_text="Two or more of your conversations to merge into a new one.")
    message_ids = serializers.ListField(
        child=serializers.CharField(), required=False, allow_empty=True,
        help_text="Two or more sibling answers (same user message) to fuse into one new answer.")
    model = serializers.CharField(help_text="The merge model, `provider/model-id`.")
    instructions = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000)


class MergeProvenanceSerializer(serializers.ModelSerializer):
    class Meta:
        model = MergeHistory
        fields = ["result_conversation_id", "result_message_id", "source_conversation_id", "source_message_id"]


class MergeJobSerializer(serializers.ModelSerializer):
    result_conversation_id = serializers.UUIDField(allow_null=True, read_only=True)
    result_message_id = serializers.UUIDField(allow_null=True, read_only=True)
    conversation_ids = serializers.SerializerMethodField()
    message_ids = serializers.SerializerMethodField()
    raw_output = serializers.SerializerMethodField(
        help_text="The merge model's answer when it could not be parsed (failed jobs), else empty.")

    class Meta:
        model = MergeJob
        fields = [
            "id", "status", "kind", "model", "instructions", "conversation_ids", "message_ids", "progress",
            "stage", "result_conversation_id", "result_message_id", "error", "error_code", "raw_output",
            "attempts", "created_at", "started_at", "finished_at",
        ]
        read_only_fields = fields

    def get_conversation_ids(self, job) -> list[str]:
        return list(job.source_ids) if job.kind == "conversations" else []

    def get_message_ids(self, job) -> list[str]:
        return list(job.source_ids) if job.kind == "messages" else []

    def get_raw_output(self, job) -> str:
        return job.raw_output if job.status == "failed" else ""


class MergeJobDetailSerializer(MergeJobSerializer):
    provenance = serializers.SerializerMethodField()

    class Meta(MergeJobSerializer.Meta):
        fields = [*MergeJobSerializer.Meta.fields, "provenance"]
        read_only_fields = fields

    @extend_schema_field(MergeProvenanceSerializer(many=True))
    def get_provenance(self, job):
        return MergeProvenanceSerializer(job.history.all(), many=True).data


class MergeAcceptedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()


class CompareRequestSerializer(StrictFieldsMixin, serializers.Serializer):
    prompt = serializers.CharField(trim_whitespace=False, help_text="The question every model answers.")
    models = serializers.ListField(
        child=serializers.CharField(), required=False, allow_empty=False,
        help_text="`provider/model-id` each, at most 8, no repeats. Default: PARLEY_COMPARE_MODELS, else the "
                  "first listed model of every provider with a configured key.")
    conversation_id = serializers.UUIDField(required=False, allow_null=True,
                                            help_text="Ask inside this conversation (with its history).")
    stream = serializers.BooleanField(required=False, default=False,
                                      help_text="Answer with SSE events tagged by model instead of JSON.")
    attachments = AttachmentIdsField(help_text="Ids of your uploads; every model gets the same attachments.")
    tools = ToolSpecsField(help_text="MCP tools every model may call (each runs its own tool loop), instead of the "
                                     "conversation's `params.tools`.")

    def validate_prompt(self, value: str) -> str:
        from chats.validation import validate_message_content

        return validate_message_content(value)


class CompareAnswerSerializer(serializers.Serializer):
    model = serializers.CharField()
    provider = serializers.CharField()
    content = serializers.CharField()
    reasoning = serializers.CharField()
    error = serializers.CharField(allow_null=True)
    error_code = serializers.CharField(allow_null=True)
    status = serializers.CharField(help_text="complete | failed | cancelled | interrupted")
    latency_ms = serializers.IntegerField(allow_null=True)
    ttft_ms = serializers.IntegerField(allow_null=True)
    usage = serializers.DictField()
    message_id = serializers.UUIDField()
    generation_id = serializers.UUIDField()


class CompareResponseSerializer(serializers.Serializer):
    conversation_id = serializers.UUIDField()
    user_message_id = serializers.UUIDField()
    group_id = serializers.UUIDField()
    selected_message_id = serializers.UUIDField(allow_null=True)
    responses = CompareAnswerSerializer(many=True)
