"""The usage endpoint (SPEC §10) and the admin's users with their budgets."""
from datetime import UTC, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.openapi import error_responses, id_parameter
from core.pagination import PageNumberPagination
from usage import selectors, services
from usage.api.serializers import (
    AdminUserSerializer,
    AdminUserUpdateSerializer,
    UsageQuerySerializer,
    UsageSummarySerializer,
)


def _day_start(day) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


class UsageView(APIView):
    @extend_schema(
        operation_id="usage_summary",
        summary="Your usage and cost",
        description="Totals and groups of every model call you made in the range: replies, compare answers, "
        "merge calls and gateway calls. Days are UTC; `to` is included. An admin may add `user=`.",
        parameters=[
            OpenApiParameter("from", str, description="First day included (YYYY-MM-DD); default: the month's 1st."),
            OpenApiParameter("to", str, description="Last day included (YYYY-MM-DD); default: open."),
            OpenApiParameter("group_by", str, enum=list(selectors.GROUPS), description="Default `day`."),
            OpenApiParameter("user", int, description="Admins only: whose usage."),
        ],
        responses={200: UsageSummarySerializer, **error_responses(400, 404)},
    )
    def get(self, request):
        query = UsageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        user_id = request.user.pk
        if data.get("user") is not None and data["user"] != user_id:
            if not request.user.is_staff:
                raise exceptions.PermissionDenied("Only an admin may see another user's usage.")
            if not get_user_model().objects.filter(pk=data["user"]).exists():
                raise Http404("No such user.")
            user_id = data["user"]
        start = _day_start(data["from"]) if data.get("from") else selectors.month_start()
        end = _day_start(data["to"]) + timedelta(days=1) if data.get("to") else None
        if end is not None and end <= start:
            raise exceptions.ValidationError({"to": ["`to` is before `from`."]}, code="invalid_range")
        return Response(selectors.usage_summary(user_id=user_id, start=start, end=end, group_by=data["group_by"]))


class AdminUserListView(APIView):
    permission_classes = [IsAdminUser]
    pagination_class = PageNumberPagination

    @extend_schema(
        operation_id="admin_users_list",
        summary="Every user with their budget and month-to-date cost (admins only)",
        responses={200: AdminUserSerializer(many=True), **error_responses()},
    )
    def get(self, request):
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(get_user_model().objects.order_by("id"), request, view=self)
        return paginator.get_paginated_response(AdminUserSerializer(selectors.users_with_budgets(page), many=True).data)


class AdminUserDetailView(APIView):
    permission_classes = [IsAdminUser]

    def _user(self, user_id):
        try:
            return get_user_model().objects.get(pk=int(user_id))
        except (ValueError, TypeError, get_user_model().DoesNotExist):
            raise Http404("No such user.")

    @extend_schema(
        operation_id="admin_users_retrieve", summary="One user with their budget (admins only)",
        parameters=[id_parameter("user_id", kind=int, description="The user's id.")],
        responses={200: AdminUserSerializer, **error_responses(404)},
    )
    def get(self, request, user_id):
        return Response(AdminUserSerializer(selectors.users_with_budgets([self._user(user_id)])[0]).data)

    @extend_schema(
        operation_id="admin_users_partial_update",
        summary="Set a user's monthly budget (null: the default) or deactivate them (admins only)",
        parameters=[id_parameter("user_id", kind=int, description="The user's id.")],
        request=AdminUserUpdateSerializer,
        responses={200: AdminUserSerializer, **error_responses(400, 404)},
    )
    def patch(self, request, user_id):
        user = self._user(user_id)
        serializer = AdminUserUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if "monthly_budget" in data:
            services.user_budget_set(user_id=user.pk, monthly_budget=data["monthly_budget"])
        if "is_active" in data and data["is_active"] != user.is_active:
            if user.pk == request.user.pk:
                raise exceptions.ValidationError({"is_active": ["You cannot deactivate yourself."]}, code="invalid")
            user.is_active = data["is_active"]
            user.save(update_fields=["is_active"])
        return Response(AdminUserSerializer(selectors.users_with_budgets([user])[0]).data)
