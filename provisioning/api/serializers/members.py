from rest_framework import serializers

from ...models import Account, Member
from .countries import ISO_3166_ALPHA2
from .fields import StrictModelSerializer


class MemberAccountSerializer(serializers.ModelSerializer):
    """A member's account, in short."""

    provider = serializers.CharField(source="connection.provider", read_only=True)

    class Meta:
        model = Account
        fields = ["id", "connection", "provider", "status"]
        read_only_fields = fields


class MemberSerializer(StrictModelSerializer):
    country = serializers.ChoiceField(
        choices=ISO_3166_ALPHA2,
        allow_blank=True,
        required=False,
        help_text="ISO 3166-1 alpha-2, upper case (SG, FR...).",
    )
    accounts = MemberAccountSerializer(many=True, read_only=True)

    class Meta:
        model = Member
        fields = [
            "id",
            "external_ref",
            "email",
            "phone",
            "first_name",
            "last_name",
            "country",
            "accounts",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "accounts", "created_at", "updated_at"]
        extra_kwargs = {"phone": {"help_text": "E.164, e.g. +6591234567."}}

    def validate_external_ref(self, value):
        return value or None  # unique, but many members have none
