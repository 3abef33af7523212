"""Providers overview, the model catalog, custom endpoints and key validation over REST."""
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.openapi import error_responses, id_parameter
from core.serializers import StrictFieldsMixin
from core.throttling import CatalogRefreshThrottle
from providers import selectors, services
from providers.gateway import configured_providers
from providers.models import CustomEndpoint
from providers.registry import PROVIDERS

# --- GET /providers/ ------------------------------------------------------------------------------

class ProviderSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    protocol = serializers.CharField()
    configured = serializers.BooleanField()
    key_source = serializers.ChoiceField(choices=["user", "shared", "env"], allow_null=True,
                                         help_text="Where the key comes from; null when there is none.")
    source = serializers.CharField(allow_null=True, help_text="The same as `key_source`: user, shared, env or null.")
    base_url = serializers.CharField(required=False, help_text="Only for custom endpoints.")


class ProviderListView(APIView):
    @extend_schema(
        operation_id="providers_list",
        summary="Providers and where their keys come from",
        description="Built-in providers and the custom endpoints you can use; `configured` says whether a "
        "chat can be sent, `key_source` (also as `source`) whether the key is yours (`user`), an admin's shared "
        "one (`shared`) or the server's (`env`), null when there is none.",
        responses={200: ProviderSerializer(many=True), **error_responses()},
    )
    def get(self, request):
        sources = configured_providers(request.user.pk)
        endpoints = {e.slug: e for e in selectors.custom_endpoint_list(user_id=request.user.pk).order_by("-owner_id")}
        rows = []
        for slug, source in sources.items():
            spec = PROVIDERS.get(slug)
            row = {"slug": slug, "configured": source is not None, "key_source": source or None,
                   "source": source or None}
            if spec is not None:
                row.update(name=spec.name, protocol=spec.protocol)
            else:
                endpoint = endpoints[slug]
                row.update(name=endpoint.name, protocol="openai_chat", base_url=endpoint.base_url)
            rows.append(row)
        return Response(ProviderSerializer(rows, many=True).data)


# --- GET /models/ ---------------------------------------------------------------------------------

class CatalogEntrySerializer(serializers.Serializer):
    id = serializers.CharField(help_text="provider/model-id, as chats name it.")
    provider = serializers.CharField()
    name = serializers.CharField()
    context_length = serializers.IntegerField(allow_null=True)
    pricing = inline_serializer("ModelPricing", {
        "prompt": serializers.CharField(allow_null=True, help_text="USD per prompt token."),
        "completion": serializers.CharField(allow_null=True, help_text="USD per completion token."),
    })
    capabilities = serializers.ListField(child=serializers.CharField())


class CatalogSerializer(serializers.Serializer):
    models = CatalogEntrySerializer(many=True)
    cached = serializers.BooleanField(help_text="False when this answer fetched the lists just now.")
    fetched_at = serializers.DateTimeField(allow_null=True,
                                           help_text="When the oldest listed provider's list was fetched.")


def _entry(row) -> dict:
    def price(value):
        return None if value is None else format(value.normalize(), "f")

    return {"id": row.model_name, "provider": row.provider, "name": row.name, "context_length": row.context_length,
            "pricing": {"prompt": price(row.pricing_prompt), "completion": price(row.pricing_completion)},
            "capabilities": row.capabilities or []}


class ModelCatalogView(APIView):
    def get_throttles(self):
        return [*super().get_throttles(), CatalogRefreshThrottle()]

    @extend_schema(
        operation_id="models_list",
        summary="The model catalog",
        description="Models of every provider you can use, with pricing and context length where the provider "
        "says. Lists are refreshed every MODEL_CATALOG_TTL seconds; `refresh=1` fetches them now. A failed "
        "fetch keeps the last good list.",
        parameters=[
            OpenApiParameter("provider", str, description="Only this provider's models."),
            OpenApiParameter("q", str, description="Search in ids and names."),
            OpenApiParameter("capability", str, description="e.g. vision, tools, reasoning."),
            OpenApiParameter("refresh", int, description="1: fetch the lists now."),
        ],
        responses={200: CatalogSerializer, **error_responses(400)},
    )
    def get(self, request):
        provider = request.query_params.get("provider", "").strip()
        refresh = request.query_params.get("refresh") in ("1", "true", "yes")
        user_id = request.user.pk
        usable, fetches, cached = services.catalog_usable(user_id=user_id, provider=provider, refresh=refresh)
        if provider and not usable:
            raise exceptions.ValidationError({"provider": [f"'{provider}' is not a provider you can use."]})
        rows = selectors.catalog_list(providers=usable, q=request.query_params.get("q", "").strip(),
                                      capability=request.query_params.get("capability", "").strip(), user_id=user_id)
        times = [f.fetched_at for f in fetches.values() if f.fetched_at is not None]
        return Response({"models": [_entry(row) for row in rows], "cached": cached,
                         "fetched_at": min(times).isoformat() if times else None})


# --- /endpoints/ ----------------------------------------------------------------------------------

class CustomEndpointSerializer(serializers.ModelSerializer):
    shared = serializers.SerializerMethodField()

    class Meta:
        model = CustomEndpoint
        fields = ["id", "slug", "name", "base_url", "hint", "shared", "created_at"]
        read_only_fields = fields

    def get_shared(self, obj) -> bool:
        return obj.owner_id is None


class CustomEndpointCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    slug = serializers.SlugField(max_length=64, help_text="The provider name in model names: slug/model-id.")
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    base_url = serializers.URLField(max_length=500, help_text="The root /chat/completions and /models hang off.")
    api_key = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=4096)
    shared = serializers.BooleanField(required=False, default=False, help_text="Admins only: for every user.")


class CustomEndpointListView(APIView):
    @extend_schema(
        operation_id="endpoints_list",
        summary="Custom OpenAI-compatible endpoints you can use",
        responses={200: CustomEndpointSerializer(many=True), **error_responses()},
    )
    def get(self, request):
        endpoints = selectors.custom_endpoint_list(user_id=request.user.pk).order_by("slug", "-created_at")
        return Response(CustomEndpointSerializer(endpoints, many=True).data)

    @extend_schema(
        operation_id="endpoints_create",
        summary="Add a custom OpenAI-compatible endpoint",
        description="Yours, or shared with everyone (`shared`, admins only). A user's endpoint may not point at "
        "loopback, private, link-local or cloud-metadata addresses.",
        request=CustomEndpointCreateSerializer,
        responses={201: CustomEndpointSerializer, **error_responses(400)},
    )
    def post(self, request):
        serializer = CustomEndpointCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data["shared"] and not request.user.is_staff:
            raise exceptions.PermissionDenied("Only admins may add shared endpoints.")
        try:
            endpoint = services.custom_endpoint_create(
                owner=None if data["shared"] else request.user, slug=data["slug"],
                name=data.get("name") or data["slug"], base_url=data["base_url"],
                api_key=data.get("api_key", "").strip(),
            )
        except DjangoValidationError as exc:
            raise exceptions.ValidationError(
                {field: [exceptions.ErrorDetail(e.message, code=e.code) for e in errs]
                 for field, errs in exc.error_dict.items()}
            )
        return Response(CustomEndpointSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class CustomEndpointDetailView(APIView):
    @extend_schema(
        operation_id="endpoints_destroy",
        summary="Delete one of your endpoints",
        parameters=[id_parameter("endpoint_id", kind=int, description="The endpoint's id.")],
        responses={204: OpenApiResponse(description="Deleted."), **error_responses(404)},
    )
    def delete(self, request, endpoint_id):
        endpoint = selectors.custom_endpoint_get(user=request.user, endpoint_id=endpoint_id)
        if endpoint is None:
            raise Http404("No such endpoint.")
        services.custom_endpoint_delete(endpoint=endpoint)
        return Response(status=status.HTTP_204_NO_CONTENT)
