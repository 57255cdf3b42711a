from rest_framework import serializers

from ...explain import account_person_sentence
from ...models import Account, Connection, Member
from .fields import IdRelatedField
from .operations import OperationSerializer, PendingOperationField


class AccountSerializer(serializers.ModelSerializer):
    provider = serializers.CharField(source="connection.provider", read_only=True)
    secrets_set = serializers.ListField(child=serializers.CharField(), read_only=True)
    pending_operation = PendingOperationField()
    needs_person = serializers.BooleanField(
        read_only=True,
        help_text="Whether a person must act on it: awaiting a captcha, an SMS code or a validation, "
        "failed, or flagged (attention set).",
    )
    attention = serializers.SerializerMethodField(
        help_text="Why a person must act on it and what to do, as a sentence (empty when nothing is needed)."
    )
    captcha_available = serializers.SerializerMethodField(
        help_text="Whether GET /captcha/ has an image to show."
    )

    class Meta:
        model = Account
        fields = [
            "id",
            "member",
            "connection",
            "provider",
            "status",
            "external_id",
            "details",
            "secrets_set",
            "last_error",
            "attention",
            "needs_person",
            "pending_operation",
            "captcha_available",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_attention(self, account) -> str:
        return account_person_sentence(account)

    def get_captcha_available(self, account) -> bool:
        annotated = getattr(account, "has_challenge_image", None)
        if annotated is not None:
            return annotated
        return Account.objects.filter(pk=account.pk, challenge_image__isnull=False).exists()


class AccountCreateSerializer(serializers.Serializer):
    member = IdRelatedField(queryset=Member.objects.all())
    connection = IdRelatedField(queryset=Connection.objects.all())


class AccountCreatedSerializer(serializers.Serializer):
    """The answer to creating an account: the account and its provisioning operation."""

    account = AccountSerializer()
    operation = OperationSerializer()
