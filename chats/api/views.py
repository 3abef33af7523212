"""Conversations, their messages and presets over REST; views only parse, call services and render."""
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from chats import selectors, services, tree
from chats.api.serializers import (
    ConversationSerializer,
    ConversationWriteSerializer,
    MessageCreateSerializer,
    MessageSerializer,
    PresetSerializer,
    PresetWriteSerializer,
)
from chats.generations import resolve_model
from chats.live import announce_messages
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
        responses={200: ConversationSerializer, **error_responses(404)},
    )
    def get(self, request, conversation_id):
        conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
        return Response(ConversationSerializer(conversation).data)

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
