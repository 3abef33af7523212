"""Conversations, their messages, the generations that stream assistant replies, and presets."""
import uuid

from django.conf import settings
from django.db import models


class Conversation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations")
    title = models.CharField(max_length=500, blank=True)
    system_prompt = models.TextField(blank=True)
    default_model = models.CharField(max_length=200, blank=True)
    # temperature, max_tokens, top_p, reasoning_effort, thinking_budget ...
    params = models.JSONField(default=dict, blank=True)
    # The generation (or compare group) streaming into this conversation; set and cleared by
    # chats.generations with conditional UPDATEs so a second send is refused atomically (409).
    active_stream = models.UUIDField(null=True, blank=True, editable=False)
    merged_from = models.ManyToManyField(
        "self", symmetrical=False, related_name="merged_into", blank=True, through="merging.MergeHistory",
        through_fields=("result_conversation", "source_conversation"),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["owner", "-updated_at"])]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.id}"


class MessageRole(models.TextChoices):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class MessageStatus(models.TextChoices):
    COMPLETE = "complete"
    STREAMING = "streaming"
    CANCELLED = "cancelled"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class Message(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=MessageRole.choices)
    content = models.TextField(blank=True)
    reasoning = models.TextField(blank=True)
    model = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=MessageStatus.choices, default=MessageStatus.COMPLETE)
    error = models.TextField(blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    finish_reason = models.CharField(max_length=64, blank=True)
    usage = models.JSONField(default=dict, blank=True)
    cost = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    attachments = models.JSONField(default=list, blank=True)
    # tool calls, citations, provider signatures for replay (Anthropic thinking), merge provenance notes
    metadata = models.JSONField(default=dict, blank=True)
    # Sibling answers of a compare all reply to the same user message; one is selected to continue from.
    reply_to = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="replies"
    )
    # The conversation tree (SPEC §8): the message this one follows (null for a first message). An assistant
    # message's parent is the user message it answers (reply_to stays as its alias). Siblings share a parent;
    # the selected one at every level, from the root down, is the conversation's current branch (chats.tree).
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="children"
    )
    selected = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "created_at"]), models.Index(fields=["parent", "created_at"])]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:60]}"

    def save(self, *args, **kwargs):
        # Code that does not place a new message in the tree (compare, merges, older callers) still does: an answer
        # follows the message it replies to, anything else the tip of the current branch. A new first message (an
        # edit of the first one, an import) says so with `is_root = True`.
        if self._state.adding and self.parent_id is None:
            if self.reply_to_id is not None:
                self.parent_id = self.reply_to_id
            elif not getattr(self, "is_root", False):
                from chats.tree import Tree

                self.parent_id = Tree.of(self.conversation_id).tip()
        super().save(*args, **kwargs)


class GenerationStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETE = "complete"
    CANCELLED = "cancelled"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


# Seqs a generation may hand to clients before its runner has reserved more in the database (see reserved_seq).
SEQ_RESERVATION = 256


class Generation(models.Model):
    """One assistant reply being produced by a provider; owns the event sequence of its stream."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="generations")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, null=True, blank=True, related_name="generations"
    )
    # A reply's message has one generation, and one more each time it is continued: the latest writes it, the
    # earlier ones keep their events and usage (history is not rewritten by a continue).
    message = models.ForeignKey(Message, on_delete=models.CASCADE, null=True, blank=True, related_name="generations",
                                related_query_name="generation")
    model = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=GenerationStatus.choices, default=GenerationStatus.QUEUED)
    last_seq = models.PositiveIntegerField(default=0)
    # Seqs up to this one may have reached a client before their slice was written: the runner hands out none
    # past it, and raises it ahead (with the slices) as the reply grows; a repair numbers its end after it.
    reserved_seq = models.PositiveIntegerField(default=SEQ_RESERVATION)
    # A continued reply's message starts with the text it had before (its log holds only what follows): how much,
    # so a repair rebuilds before + logged instead of dropping what came before.
    content_before_chars = models.PositiveIntegerField(default=0)
    reasoning_before_chars = models.PositiveIntegerField(default=0)
    # Compare fan-outs share a group id so their events can be tagged and followed together.
    group_id = models.UUIDField(null=True, blank=True, db_index=True)
    finish_reason = models.CharField(max_length=64, blank=True)
    usage = models.JSONField(default=dict, blank=True)
    cost = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    # The process running it (its channel-layer control channel) and when that process last said it was alive;
    # a running generation whose heartbeat is stale was left behind by a crash.
    runner = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # A stop asked from another process ("cancelled"), for its runner to notice without the channel layer.
    stop_requested = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["conversation", "status"])]

    def __str__(self) -> str:
        return f"{self.model} {self.status}"


class ToolApproval(models.Model):
    """A tool call of a generation in approval mode `ask`: waiting for the user (`approved` null), or answered.

    The user's answer goes through this row, so it reaches the generation in whichever process runs it."""

    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="tool_approvals")
    call_id = models.CharField(max_length=200)
    name = models.CharField(max_length=200)
    approved = models.BooleanField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["generation", "call_id"], name="unique_tool_approval_call"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.call_id}"


class GenerationSlice(models.Model):
    """A time slice of a generation's stream events, persisted together so a client can replay what it missed."""

    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="slices")
    first_seq = models.PositiveIntegerField()
    last_seq = models.PositiveIntegerField()
    events = models.JSONField(default=list)

    class Meta:
        ordering = ["generation", "first_seq"]
        constraints = [
            models.UniqueConstraint(fields=["generation", "first_seq"], name="unique_generation_slice_start"),
        ]

    def __str__(self) -> str:
        return f"{self.generation_id} {self.first_seq}-{self.last_seq}"


class Preset(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="presets")
    name = models.CharField(max_length=100)
    model = models.CharField(max_length=200, blank=True)
    system_prompt = models.TextField(blank=True)
    params = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="unique_preset_name_per_owner")]

    def __str__(self) -> str:
        return self.name


class ConversationShare(models.Model):
    """A read-only link to a conversation's current branch as it was when shared (chats.sharing)."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="shares")
    token = models.CharField(max_length=64, unique=True)
    # {"title", "messages": [{"role", "content", "model", "created_at"}]}: nothing else of the owner.
    snapshot = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"share of {self.conversation_id}"
