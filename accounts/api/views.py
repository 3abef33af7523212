"""Personal API tokens over REST: list, create (the token is shown once), revoke."""
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.api.serializers import ApiTokenCreatedSerializer, ApiTokenCreateSerializer, ApiTokenSerializer
from core.openapi import error_responses, id_parameter
from core.pagination import PageNumberPagination, paginated_response


class ApiTokenListView(APIView):
    pagination_class = PageNumberPagination

    @extend_schema(
        operation_id="tokens_list",
        summary="Your personal API tokens",
        description="Newest first; each appears only as its hint.",
        responses={200: ApiTokenSerializer(many=True), **error_responses(404)},
    )
    def get(self, request):
        return paginated_response(self, selectors.api_token_list(user=request.user), ApiTokenSerializer)

    @extend_schema(
        operation_id="tokens_create",
        summary="Create a personal API token",
        description="The answer carries the token once (`token`); afterwards only its hint is shown. "
        "Use it as `Authorization: Bearer <token>`.",
        request=ApiTokenCreateSerializer,
        responses={201: ApiTokenCreatedSerializer, **error_responses(400)},
    )
    def post(self, request):
        serializer = ApiTokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, raw = services.api_token_create(user=request.user, name=serializer.validated_data.get("name", ""))
        token.token = raw
        return Response(ApiTokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)


class ApiTokenDetailView(APIView):
    @extend_schema(
        operation_id="tokens_destroy",
        summary="Revoke a token",
        parameters=[id_parameter("token_id", kind=int, description="The token's id.")],
        responses={204: OpenApiResponse(description="Revoked."), **error_responses(404)},
    )
    def delete(self, request, token_id):
        token = selectors.api_token_get(user=request.user, token_id=token_id)
        services.api_token_revoke(user=request.user, token_id=token.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
