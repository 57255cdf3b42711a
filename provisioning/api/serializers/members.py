from rest_framework import serializers
from rest_framework.validators import UniqueValidator

from ...models import COUNTRY_HELP, COUNTRY_MESSAGE, Account, Member
from .fields import CountryCodeField, StrictModelSerializer


class MemberAccountSerializer(serializers.ModelSerializer):
    """A member's account, in short."""

    provider = serializers.CharField(source="connection.provider", read_only=True)

    class Meta:
        model = Account
        fields = ["id", "connection", "provider", "status"]
        read_only_fields = fields


class MemberSerializer(StrictModelSerializer):
    country = CountryCodeField(
        allow_blank=True,
        required=False,
        help_text=COUNTRY_HELP,
        error_messages={"invalid_choice": COUNTRY_MESSAGE},
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
        extra_kwargs = {
            "phone": {"help_text": "E.164, e.g. +6591234567."},
            "external_ref": {
                "validators": [
                    UniqueValidator(
                        queryset=Member.objects.all(),
                        message="Another member has this external_ref: update that member "
                        "(GET /api/v1/members/?external_ref=...) or give another reference.",
                    )
                ]
            },
        }

    def validate_external_ref(self, value):
        return value or None  # unique, but many members have none
