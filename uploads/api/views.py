"""Uploads over REST (multipart in, sniffed bytes out) and the speech-to-text token; views only parse and call."""
from django.http import HttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.openapi import error_responses, id_parameter
from core.pagination import PageNumberPagination, paginated_response
from core.serializers import ErrorSerializer
from uploads import selectors, services, speech
from uploads.api.serializers import SttTokenSerializer, UploadCreateSerializer, UploadSerializer
from uploads.errors import TooLarge
from uploads.inspection import max_bytes
from uploads.storage import upload_storage

_UPLOAD_ID = id_parameter("upload_id", description="The upload's UUID.")
REFUSALS = {
    400: OpenApiResponse(ErrorSerializer, description="`invalid_file` (a corrupt image or PDF, or a file that is "
                         "not what its name says), `empty_file`, `required` (no `file` part)."),
    413: OpenApiResponse(ErrorSerializer, description="`too_large` (over PARLEY_UPLOAD_MAX_BYTES) or "
                         "`image_too_large` (over PARLEY_UPLOAD_MAX_PIXELS)."),
    415: OpenApiResponse(ErrorSerializer, description="`unsupported_media_type`: not an image (PNG, JPEG, WebP, "
                         "GIF), PDF or text file."),
}


class UploadListView(APIView):
    parser_classes = [MultiPartParser, FormParser]
    pagination_class = PageNumberPagination

    @extend_schema(operation_id="uploads_list", tags=["uploads"], summary="Your uploads, newest first",
                   responses={200: UploadSerializer(many=True), **error_responses(404)})
    def get(self, request):
        return paginated_response(self, selectors.upload_list(user=request.user), UploadSerializer)

    @extend_schema(
        operation_id="uploads_create", tags=["uploads"], summary="Upload a file to attach to a message",
        description=(
            "multipart/form-data with the field `file`. `kind` is `image` (PNG, JPEG, WebP, GIF), `pdf` or `text`, "
            "decided from the bytes, never from the name or the declared type. An upload no message uses is "
            "deleted at `expires_at` (PARLEY_UPLOAD_UNATTACHED_HOURS); an attached one lives as long as its message."
        ),
        request={"multipart/form-data": UploadCreateSerializer},
        responses={201: UploadSerializer, **error_responses(), **REFUSALS},
    )
    def post(self, request):
        if int(request.META.get("CONTENT_LENGTH") or 0) > max_bytes() + 64 * 1024:
            raise TooLarge(f"The file is larger than {max_bytes() // (1024 * 1024)} MB.")
        files = request.FILES.getlist("file")
        if len(files) != 1:
            raise exceptions.ValidationError(
                {"file": ["Send exactly one file in the multipart field `file`."]}, code="required")
        file = files[0]
        if file.size > max_bytes():
            raise TooLarge(f"The file is larger than {max_bytes() // (1024 * 1024)} MB.")
        upload = services.upload_create(owner=request.user, name=file.name or "", data=file.read(),
                                        declared_type=file.content_type or "")
        return Response(UploadSerializer(upload).data, status=status.HTTP_201_CREATED)


class UploadDetailView(APIView):
    @extend_schema(operation_id="uploads_retrieve", tags=["uploads"], summary="An upload",
                   parameters=[_UPLOAD_ID], responses={200: UploadSerializer, **error_responses(404)})
    def get(self, request, upload_id):
        return Response(UploadSerializer(selectors.upload_get(user=request.user, upload_id=upload_id)).data)

    @extend_schema(operation_id="uploads_destroy", tags=["uploads"], summary="Delete an upload and its file",
                   description="An attached upload is removed from its message too.",
                   parameters=[_UPLOAD_ID],
                   responses={204: OpenApiResponse(description="Deleted."), **error_responses(404)})
    def delete(self, request, upload_id):
        services.upload_delete(upload=selectors.upload_get(user=request.user, upload_id=upload_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class UploadContentView(APIView):
    @extend_schema(
        operation_id="uploads_content", tags=["uploads"], summary="The upload's bytes",
        description="Served with the sniffed type, `X-Content-Type-Options: nosniff` and `Content-Disposition: "
                    "attachment` (inline for images).",
        parameters=[_UPLOAD_ID],
        responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY), **error_responses(404)},
    )
    def get(self, request, upload_id):
        upload = selectors.upload_get(user=request.user, upload_id=upload_id)
        try:
            with upload_storage().open(upload.storage_path, "rb") as file:
                data = file.read()
        except (FileNotFoundError, OSError):
            raise exceptions.NotFound("The file is no longer stored.")
        response = HttpResponse(data, content_type=upload.content_type)
        response["Content-Disposition"] = content_disposition_header(upload.kind != "image", upload.name)
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response["Cache-Control"] = "private, max-age=3600"
        return response


class SttTokenView(APIView):
    throttle_classes = [speech.SttTokenThrottle]

    @extend_schema(
        operation_id="stt_deepgram_token", tags=["speech"], summary="A short-lived Deepgram token",
        description=(
            "Asks Deepgram (`POST {DEEPGRAM_BASE_URL}/v1/auth/grant` with the server's DEEPGRAM_API_KEY and "
            "`ttl_seconds` PARLEY_STT_TOKEN_TTL) for a token the browser opens Deepgram's live socket with "
            "(`Sec-WebSocket-Protocol: bearer, <token>`). The key itself never leaves the server. 503 "
            "`stt_not_configured` without a key, 502 `stt_refused` when Deepgram refuses, 429 past "
            "PARLEY_STT_TOKENS_PER_MINUTE per user."
        ),
        request=None,
        responses={200: SttTokenSerializer, **error_responses(429, 502, 503)},
    )
    def post(self, request):
        return Response(speech.deepgram_token())
