"""The caller's stored provider keys: list, add, delete (and, from the providers layer, validate)."""
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.openapi import error_responses, id_parameter
from core.pagination import PageNumberPagination, paginated_response
from core.serializers import StrictFieldsMixin
from core.throttling import KeyValidationThrottle
from providers import selectors, services
from providers.models import ProviderKey

MAX_KEY_CHARS = 4096


class ProviderKeySerializer(serializers.ModelSerializer):
    """A stored key as anyone may see it: never the key, only its hint."""

    valid = serializers.SerializerMethodField()
    needs_reentry = serializers.SerializerMethodField(
        help_text="True when the key was encrypted with a key no longer configured: enter it again."
    )

    class Meta:
        model = ProviderKey
        fields = ["id", "provider", "label", "hint", "created_at", "last_validated_at", "valid", "needs_reentry"]
        read_only_fields = fields

    def get_needs_reentry(self, obj) -> bool:
        return not obj.decryptable

    def get_valid(self, obj) -> bool | None:
        """The provider's verdict at the last validation (null: never validated)."""
        return False if not obj.decryptable else obj.valid


class ProviderKeyCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    provider = serializers.CharField(max_length=64, help_text="A built-in slug or one of your custom endpoints'.")
    api_key = serializers.CharField(write_only=True, max_length=MAX_KEY_CHARS, style={"input_type": "password"})
    label = serializers.CharField(required=False, allow_blank=True, max_length=100)

    def validate_provider(self, value):
        user = self.context["request"].user
        value = value.strip()
        if value not in selectors.known_provider_slugs(user_id=user.pk):
            raise serializers.ValidationError(f"Unknown provider '{value}'.", code="unknown_provider")
        return value

    def validate_api_key(self, value):
        value = value.strip()
        if not value or any(ch.isspace() for ch in value):
            # Never echo the value back: only say what is wrong with it.
            raise serializers.ValidationError("Enter the key exactly, without spaces.", code="invalid_key")
        if not value.isascii() or not value.isprintable():
            # It travels in an HTTP header, which holds printable ASCII only (found by `make fuzz`).
            raise serializers.ValidationError("A key holds printable ASCII characters only.", code="invalid_key")
        return value


_KEY_ID = id_parameter("key_id", kind=int, description="The stored key's id.")


class ProviderKeyListView(APIView):
    pagination_class = PageNumberPagination

    @extend_schema(
        operation_id="keys_list",
        summary="Your stored provider keys",
        description="Newest first; each key appears only as its hint (`…a1b2`).",
        responses={200: ProviderKeySerializer(many=True), **error_responses(404)},
    )
    def get(self, request):
        return paginated_response(self, selectors.provider_key_list(user=request.user), ProviderKeySerializer)

    @extend_schema(
        operation_id="keys_create",
        summary="Store a provider key",
        description="The key is encrypted at once and never shown again; the answer carries its hint.",
        request=ProviderKeyCreateSerializer,
        responses={201: ProviderKeySerializer, **error_responses(400)},
    )
    def post(self, request):
        serializer = ProviderKeyCreateSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        key = services.provider_key_create(owner=request.user, **serializer.validated_data)
        return Response(ProviderKeySerializer(key).data, status=status.HTTP_201_CREATED)


class ProviderKeyDetailView(APIView):
    @extend_schema(
        operation_id="keys_destroy",
        summary="Delete a stored key",
        parameters=[_KEY_ID],
        responses={204: OpenApiResponse(description="Deleted."), **error_responses(404)},
    )
    def delete(self, request, key_id):
        services.provider_key_delete(key=_owned_key(request, key_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _owned_key(request, key_id) -> ProviderKey:
    """The caller's key, or a 404 (also for another user's, a shared one, or a malformed id)."""
    key = selectors.provider_key_get(user=request.user, key_id=key_id)
    if key is None:
        raise Http404("No such key.")
    return key


# The providers layer adds `ProviderKeyValidateView` (POST /keys/{id}/validate/) below, using _owned_key.


class KeyValidationSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    detail = serializers.CharField()


class ProviderKeyValidateView(APIView):
    def get_throttles(self):
        return [*super().get_throttles(), KeyValidationThrottle()]

    @extend_schema(
        operation_id="keys_validate",
        summary="Check a stored key with its provider",
        description="Asks the provider with its cheapest authenticated call and stores the verdict "
        "(`valid`, `last_validated_at`). 502/503 when the provider cannot be asked at all.",
        request=None,
        parameters=[_KEY_ID],
        responses={200: KeyValidationSerializer, **error_responses(404, 502, 503)},
    )
    def post(self, request, key_id):
        key = _owned_key(request, key_id)
        # A ProviderError (the provider cannot be asked) is answered by the API's exception handler.
        valid, detail = services.provider_key_validate(key=key)
        return Response({"valid": valid, "detail": detail})
