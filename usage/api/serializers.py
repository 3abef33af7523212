"""Shapes of the usage endpoint, the admin's user list and budget edits."""
from rest_framework import serializers

from core.serializers import StrictFieldsMixin
from usage.selectors import GROUPS


class UsageQuerySerializer(serializers.Serializer):
    # `from` is a Python keyword: the field is declared under its query name in __init__.
    to = serializers.DateField(required=False, help_text="Last day included (UTC); default: today.")
    group_by = serializers.ChoiceField(choices=GROUPS, required=False, default="day")
    user = serializers.IntegerField(required=False, min_value=1, help_text="Admins only: another user's usage.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["from"] = serializers.DateField(required=False,
                                                    help_text="First day included (UTC); default: the 1st.")


class UsageFiguresSerializer(serializers.Serializer):
    cost = serializers.FloatField(help_text="USD.")
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    replies = serializers.IntegerField(help_text="Model calls: replies, compare answers, merge and gateway calls.")


class UsageRowSerializer(UsageFiguresSerializer):
    key = serializers.CharField(help_text="The day (YYYY-MM-DD), the model or the provider.")


class UsageSummarySerializer(serializers.Serializer):
    total = UsageFiguresSerializer()
    rows = UsageRowSerializer(many=True)


class AdminUserSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="user.pk", read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)
    is_active = serializers.BooleanField(source="user.is_active", read_only=True)
    is_staff = serializers.BooleanField(source="user.is_staff", read_only=True)
    monthly_budget = serializers.DecimalField(max_digits=12, decimal_places=4, coerce_to_string=False,
                                              allow_null=True, read_only=True,
                                              help_text="USD; null: PARLEY_DEFAULT_MONTHLY_BUDGET applies.")
    month_to_date_cost = serializers.DecimalField(max_digits=20, decimal_places=8, coerce_to_string=False,
                                                  read_only=True)


class AdminUserUpdateSerializer(StrictFieldsMixin, serializers.Serializer):
    monthly_budget = serializers.DecimalField(max_digits=12, decimal_places=4, min_value=0, allow_null=True,
                                              required=False)
    is_active = serializers.BooleanField(required=False)
