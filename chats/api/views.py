"""Conversations, their messages and presets over REST; views only parse, call services and render."""
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from chats import export, importers, selectors, services, sharing, tree
from chats.api.serializers import (
    ConversationDetailSerializer,
    ConversationSerializer,
    ConversationWriteSerializer,
    MessageCreateSerializer,
    PresetSerializer,
    PresetWriteSerializer,
)
from chats.generations import resolve_model
from chats.live import announce_messages
from chats.serializers import MessageSerializer
from core.json_limits import LimitedJSONParser
from core.openapi import error_responses, id_parameter
from core.pagination import PageNumberPagination, paginated_response
from uploads.attachments import attachments_check
from uploads.selectors import attachments_for_message


def _valid(serializer_class, request, **kwargs) -> dict:
    serializer = serializer_class(data=request.data, context={"request": request}, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


# --- conversations ---------------------------------------------------------------------------

_CONVERSATION_ID = id_parameter("conversation_id", description="The conversation's UUID.")


class ConversationListView(APIView):
    pagination_class = PageNumberPagination  # documents ?page= and ?page_size=

    @extend_schema(
        operation_id="conversations_list",
        summary="List your conversations",
        description="Most recently active first. `q` searches titles and message text (case-insensitive).",
        parameters=[OpenApiParameter("q", str, description="Search titles and message text.")],
        responses={200: ConversationSerializer(many=True), **error_responses(404)},
    )
    def get(self, request):
        conversations = selectors.conversation_list(user=request.user, q=request.query_params.get("q", ""))
        return paginated_response(self, conversations, ConversationSerializer)

    @extend_schema(
        operation_id="conversations_create",
        summary="Start a conversation",
        description=(
            "All fields are optional. `default_model` is `provider/model-id`. Title over "
            "PARLEY_MAX_TITLE_LENGTH or system prompt over PARLEY_MAX_SYSTEM_PROMPT_CHARS: 400 `too_long`."
        ),
        request=ConversationWriteSerializer,
        responses={201: ConversationSerializer, **error_responses(400)},
    )
    def post(self, request):
        fields = _valid(ConversationWriteSerializer, request)
        conversation = services.conversation_create(owner=request.user, **fields)
        conversation = selectors.conversation_get(user=request.user, conversation_id=conversation.pk)
        return Response(ConversationSerializer(conversation).data, status=status.HTTP_201_CREATED)


class ConversationDetailView(APIView):
    @extend_schema(
        operation_id="conversations_retrieve",
        summary="A conversation",
        parameters=[_CONVERSATION_ID],
        responses={200: ConversationDetailSerializer, **error_responses(404)},
    )
    def get(self, request, conversation_id):
        conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
        return Response(ConversationDetailSerializer(conversation).data)

    @extend_schema(
        operation_id="conversations_update",
        summary="Rename, change system prompt, default model or params",
        description="Only the given fields change; `params` is replaced whole.",
        parameters=[_CONVERSATION_ID],
        request=ConversationWriteSerializer,
        responses={200: ConversationSerializer, **error_responses(400, 404)},
    )
    def patch(self, request, conversation_id):
        conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
        fields = _valid(ConversationWriteSerializer, request, partial=True)
        if fields:
            services.conversation_update(conversation=conversation, **fields)
        conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
        return Response(ConversationSerializer(conversation).data)

    @extend_schema(
        operation_id="conversations_destroy",
        summary="Delete a conversation with its messages",
        parameters=[_CONVERSATION_ID],
        responses={204: OpenApiResponse(description="Deleted."), **error_responses(404)},
    )
    def delete(self, request, conversation_id):
        conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
        services.conversation_delete(conversation=conversation)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- messages --------------------------------------------------------------------------------


class MessageListView(APIView):
    pagination_class = PageNumberPagination

    @extend_schema(
        operation_id="messages_list",
        summary="A conversation's history",
        description=(
            "Paginated, oldest first, as a chat is read: the current branch of the conversation's tree (the "
            "selected message at every level). `?tree=1` returns every message of the tree instead. Each message "
            "has `parent_id`, `sibling_index` and `sibling_count`."
        ),
        parameters=[_CONVERSATION_ID, OpenApiParameter("tree", bool, description="Every message, all branches.")],
        responses={200: MessageSerializer(many=True), **error_responses(404)},
    )
    def get(self, request, conversation_id):
        conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
        whole = request.query_params.get("tree", "").lower() in ("1", "true", "yes")
        messages = (tree.tree_messages if whole else tree.branch_messages)(conversation=conversation)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(messages, request, view=self)
        context = {"request": request, "siblings": tree.sibling_info(conversation_id=conversation.pk)}
        return paginator.get_paginated_response(MessageSerializer(page, many=True, context=context).data)

    @extend_schema(
        operation_id="messages_create",
        summary="Add a user message",
        description=(
            "Stores a user message (`content`, or `message` as seed-000 clients send it). Then stream the "
            "reply with `GET .../stream/?model=`. An empty or whitespace-only message is 400 `blank`; one over "
            "PARLEY_MAX_MESSAGE_CHARS is 413 `too_large`; `model` must be `provider/model-id`. `attachments` are "
            "ids of your uploads: an unknown or foreign id is 400 `invalid_attachment`, one already attached to "
            "another message 400 `attachment_in_use`, an image for a model without `vision` 400 "
            "`unsupported_attachment`. With `parent_id` (edit) the message goes under that message of the "
            "conversation (null: a new first message; 404 for one not in it) and becomes the selected branch."
        ),
        parameters=[_CONVERSATION_ID],
        request=MessageCreateSerializer,
        responses={201: MessageSerializer, **error_responses(400, 404, 413)},
    )
    def post(self, request, conversation_id):
        conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
        fields = _valid(MessageCreateSerializer, request)
        if "parent_id" in fields:
            fields["parent"] = tree.message_parent_get(user=request.user, conversation=conversation,
                                                       parent_id=fields.pop("parent_id"))
        uploads = attachments_for_message(owner=request.user, upload_ids=fields.pop("attachments", []))
        model = resolve_model(conversation=conversation, reply_to=None, model=fields.get("model"))
        attachments_check(uploads=uploads, model=model, user_id=request.user.pk)
        message = services.message_create(conversation=conversation, attachments=uploads, **fields)
        announce_messages([message])
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="messages_clear",
        summary="Clear the history",
        description="Deletes every message of the conversation; the conversation itself stays.",
        parameters=[_CONVERSATION_ID],
        responses={204: OpenApiResponse(description="Cleared."), **error_responses(404)},
    )
    def delete(self, request, conversation_id):
        conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
        services.messages_clear(conversation=conversation)
        return Response(status=status.HTTP_204_NO_CONTENT)


_MESSAGE_ID = id_parameter("message_id", description="The message's UUID.")


class MessageDetailView(APIView):
    @extend_schema(
        operation_id="messages_retrieve",
        summary="A message",
        parameters=[_MESSAGE_ID],
        responses={200: MessageSerializer, **error_responses(404)},
    )
    def get(self, request, message_id):
        return Response(MessageSerializer(tree.message_get(user=request.user, message_id=message_id)).data)

    @extend_schema(
        operation_id="messages_destroy",
        summary="Delete a message and its branch",
        description=(
            "Deletes the message and every message under it (its replies and their follow-ups). If it was the "
            "selected one, its newest remaining sibling becomes selected. 409 `conversation_busy` while a reply "
            "streams in that branch."
        ),
        parameters=[_MESSAGE_ID],
        responses={204: OpenApiResponse(description="Deleted."), **error_responses(404, 409)},
    )
    def delete(self, request, message_id):
        tree.message_delete(message=tree.message_get(user=request.user, message_id=message_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- export, import, share (SPEC §8) ---------------------------------------------------------


class ConversationExportView(APIView):
    def perform_content_negotiation(self, request, force=False):
        # `?format=` names the export here, not DRF's renderer override: always answer JSON (or Markdown below).
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="conversations_export",
        summary="Export a conversation",
        description=(
            "`format=json` (default): the whole tree, every message with its `parent_id` (importable again). "
            "`format=markdown`: the current branch as a Markdown document (text/markdown)."
        ),
        parameters=[_CONVERSATION_ID, OpenApiParameter("format", str, enum=["json", "markdown"])],
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, 404)},
    )
    def get(self, request, conversation_id):
        conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
        kind = request.query_params.get("format", "json")
        if kind == "markdown":
            return HttpResponse(export.conversation_export_markdown(conversation=conversation),
                                content_type="text/markdown; charset=utf-8", headers={
                                    "Content-Disposition": _attachment(export.export_filename(conversation, "md"))})
        if kind != "json":
            raise ValidationError({"format": ["Use json or markdown."]}, code="invalid")
        response = Response(export.conversation_export_json(conversation=conversation))
        response["Content-Disposition"] = _attachment(export.export_filename(conversation, "json"))
        return response


def _attachment(filename: str) -> str:
    return f'attachment; filename="{filename}"'


class ConversationImportView(APIView):
    parser_classes = [LimitedJSONParser, MultiPartParser, FormParser]

    @extend_schema(
        operation_id="conversations_import",
        summary="Import conversations",
        description=(
            "Parley's JSON export (one, or a list) or ChatGPT's `conversations.json` (its `mapping` of nodes is a "
            "tree, kept as one), as multipart `file` or as the JSON body. 201 `{conversation_ids}`. A malformed "
            "file is 400 `invalid_import` and imports nothing."
        ),
        request={"application/json": OpenApiTypes.OBJECT, "multipart/form-data": OpenApiTypes.OBJECT},
        responses={201: OpenApiTypes.OBJECT, **error_responses(400, 413)},
    )
    def post(self, request):
        upload = request.FILES.get("file") if hasattr(request, "FILES") else None
        if upload is not None:
            conversations = importers.import_upload(owner=request.user, upload=upload)
        elif request.content_type.startswith("multipart/"):
            raise importers.InvalidImport("Send the export as the multipart field `file`.")
        else:
            conversations = importers.conversations_import(owner=request.user, data=request.data)
        return Response({"conversation_ids": [str(c.pk) for c in conversations]}, status=status.HTTP_201_CREATED)


class ConversationShareView(APIView):
    @extend_schema(
        operation_id="conversations_share",
        summary="Share a read-only link",
        description=(
            "`{token, url}`: `/s/<token>/` shows the current branch as it is now, read-only, to anyone with the "
            "link, and nothing else of yours. Sharing again makes a new link (the old one stops working)."
        ),
        parameters=[_CONVERSATION_ID], request=None,
        responses={201: OpenApiTypes.OBJECT, **error_responses(404)},
    )
    def post(self, request, conversation_id):
        conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
        share = sharing.share_create(conversation=conversation)
        url = request.build_absolute_uri(reverse("shared", args=[share.token]))
        return Response({"token": share.token, "url": url}, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="conversations_unshare",
        summary="Revoke the share link",
        description="The link answers 404 afterwards; 404 if the conversation is not shared.",
        parameters=[_CONVERSATION_ID],
        responses={204: OpenApiResponse(description="Revoked."), **error_responses(404)},
    )
    def delete(self, request, conversation_id):
        conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
        sharing.share_revoke(conversation=conversation)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- presets ---------------------------------------------------------------------------------

_PRESET_ID = id_parameter("preset_id", kind=int, description="The preset's id.")


class PresetListView(APIView):
    pagination_class = PageNumberPagination

    @extend_schema(
        operation_id="presets_list",
        summary="Your presets",
        description="Most recently changed first.",
        responses={200: PresetSerializer(many=True), **error_responses(404)},
    )
    def get(self, request):
        return paginated_response(self, selectors.preset_list(user=request.user), PresetSerializer)

    @extend_schema(
        operation_id="presets_create",
        summary="Save a preset",
        description="A name (unique per user; a duplicate is 409 `duplicate_name`), model, system prompt, params.",
        request=PresetWriteSerializer,
        responses={201: PresetSerializer, **error_responses(400, 409)},
    )
    def post(self, request):
        fields = _valid(PresetWriteSerializer, request)
        preset = services.preset_create(owner=request.user, **fields)
        return Response(PresetSerializer(preset).data, status=status.HTTP_201_CREATED)


class PresetDetailView(APIView):
    @extend_schema(
        operation_id="presets_retrieve",
        summary="A preset",
        parameters=[_PRESET_ID],
        responses={200: PresetSerializer, **error_responses(404)},
    )
    def get(self, request, preset_id):
        return Response(PresetSerializer(selectors.preset_get(user=request.user, preset_id=preset_id)).data)

    @extend_schema(
        operation_id="presets_update",
        summary="Change a preset",
        parameters=[_PRESET_ID],
        request=PresetWriteSerializer,
        responses={200: PresetSerializer, **error_responses(400, 404, 409)},
    )
    def patch(self, request, preset_id):
        preset = selectors.preset_get(user=request.user, preset_id=preset_id)
        fields = _valid(PresetWriteSerializer, request, partial=True)
        if fields:
            services.preset_update(preset=preset, **fields)
        return Response(PresetSerializer(preset).data)

    @extend_schema(
        operation_id="presets_destroy",
        summary="Delete a preset",
        parameters=[_PRESET_ID],
        responses={204: OpenApiResponse(description="Deleted."), **error_responses(404)},
    )
    def delete(self, request, preset_id):
        services.preset_delete(preset=selectors.preset_get(user=request.user, preset_id=preset_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
