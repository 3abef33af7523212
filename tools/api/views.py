"""MCP servers over REST (SPEC §7): views only parse, check who may act, and call services."""
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.openapi import error_responses, id_parameter
from tools import selectors, services
from tools.api.serializers import McpServerCreateSerializer, McpServerSerializer, McpServerUpdateSerializer

_SERVER_ID = id_parameter("server_id", kind=OpenApiTypes.INT, description="The server's id.")


def _field_errors(exc: DjangoValidationError) -> exceptions.ValidationError:
    return exceptions.ValidationError({field: [exceptions.ErrorDetail(e.message, code=e.code) for e in errs]
                                       for field, errs in exc.error_dict.items()})


def _stdio_refused(exc: services.StdioNotAllowed) -> exceptions.PermissionDenied:
    return exceptions.PermissionDenied(exc.message, code=exc.code)


def _server_or_404(request, server_id, *, change: bool = False):
    server = selectors.mcp_server_get(user=request.user, server_id=server_id)
    if server is None:
        raise Http404("No such MCP server.")
    if change and server.shared and not request.user.is_staff:
        raise exceptions.PermissionDenied("Only admins may change shared servers.")
    return server


class McpServerListView(APIView):
    @extend_schema(operation_id="mcp_servers_list", tags=["tools"], summary="Your MCP servers and the shared ones",
                   responses={200: McpServerSerializer(many=True), **error_responses()})
    def get(self, request):
        servers = selectors.mcp_server_list(user=request.user)
        return Response(McpServerSerializer(servers, many=True, context={"request": request}).data)

    @extend_schema(
        operation_id="mcp_servers_create", tags=["tools"], summary="Add an MCP server",
        description="`transport` is `streamable_http` (default), `sse`, or `stdio`: a local command (`command`, "
        "optional `env`), which only admins may add and only when the deployment sets PARLEY_MCP_ALLOW_STDIO=1 "
        "(otherwise 403 `stdio_not_allowed`). `headers` (and `env`) are stored encrypted and never "
        "returned. A user's server may not resolve to a loopback, private or link-local address (admins' may). "
        "`shared` (admins only) makes it usable by everyone. Its status is `unknown` until checked "
        "(`POST .../refresh/`, or the periodic check).",
        request=McpServerCreateSerializer,
        responses={201: McpServerSerializer, **error_responses(400, 403)},
    )
    def post(self, request):
        serializer = McpServerCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data["shared"] and not request.user.is_staff:
            raise exceptions.PermissionDenied("Only admins may add shared servers.")
        try:
            server = services.mcp_server_create(owner=None if data["shared"] else request.user, name=data["name"],
                                                url=data.get("url", ""), transport=data["transport"],
                                                headers=data.get("headers"), command=data.get("command", ""),
                                                env=data.get("env"), actor=request.user)
        except services.StdioNotAllowed as exc:
            raise _stdio_refused(exc) from None
        except DjangoValidationError as exc:
            raise _field_errors(exc) from None
        return Response(McpServerSerializer(server, context={"request": request}).data,
                        status=status.HTTP_201_CREATED)


class McpServerDetailView(APIView):
    @extend_schema(operation_id="mcp_servers_retrieve", tags=["tools"], summary="An MCP server",
                   parameters=[_SERVER_ID], responses={200: McpServerSerializer, **error_responses(404)})
    def get(self, request, server_id):
        return Response(McpServerSerializer(_server_or_404(request, server_id), context={"request": request}).data)

    @extend_schema(
        operation_id="mcp_servers_partial_update", tags=["tools"], summary="Change an MCP server",
        description="Any of `name`, `url`, `transport`, `headers` (replaced whole), `command`, `env` (replaced "
        "whole) and `enabled`. A new URL, transport, headers, command or env reset `status` to `unknown` until the "
        "next check. Shared servers: admins only. Making a server stdio, or changing a stdio server's command or "
        "env: admins only, with PARLEY_MCP_ALLOW_STDIO=1 (otherwise 403 `stdio_not_allowed`).",
        parameters=[_SERVER_ID], request=McpServerUpdateSerializer,
        responses={200: McpServerSerializer, **error_responses(400, 403, 404)},
    )
    def patch(self, request, server_id):
        server = _server_or_404(request, server_id, change=True)
        serializer = McpServerUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            server = services.mcp_server_update(server=server, actor=request.user, **serializer.validated_data)
        except services.StdioNotAllowed as exc:
            raise _stdio_refused(exc) from None
        except DjangoValidationError as exc:
            raise _field_errors(exc) from None
        return Response(McpServerSerializer(server, context={"request": request}).data)

    @extend_schema(operation_id="mcp_servers_destroy", tags=["tools"], summary="Delete an MCP server",
                   description="Shared servers: admins only.", parameters=[_SERVER_ID],
                   responses={204: OpenApiResponse(description="Deleted."), **error_responses(404)})
    def delete(self, request, server_id):
        services.mcp_server_delete(server=_server_or_404(request, server_id, change=True))
        return Response(status=status.HTTP_204_NO_CONTENT)


class McpServerRefreshView(APIView):
    @extend_schema(
        operation_id="mcp_servers_refresh", tags=["tools"], summary="Check an MCP server now",
        description="Connects, lists its tools and stores `status`, `error`, `tools` and `last_checked_at`. A server "
        "that is down, slow or not MCP answers 200 with `status: error` and the reason in `error`.",
        request=None, parameters=[_SERVER_ID], responses={200: McpServerSerializer, **error_responses(404)},
    )
    def post(self, request, server_id):
        server = services.mcp_server_refresh(server=_server_or_404(request, server_id, change=True))
        return Response(McpServerSerializer(server, context={"request": request}).data)
