from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ... import selectors
from ...models import Operation


class OperationErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    retryable = serializers.BooleanField()


class OperationSerializer(serializers.ModelSerializer):
    """An operation. ``input`` holds only non-secret input (codes and tokens are kept encrypted)."""

    error = OperationErrorSerializer(read_only=True, allow_null=True)
    calls = serializers.SerializerMethodField(help_text="External calls made so far.")

    class Meta:
        model = Operation
        fields = [
            "id",
            "kind",
            "status",
            "account",
            "connection",
            "batch",
            "attempts",
            "max_attempts",
            "requested_by",
            "input",
            "result",
            "error",
            "next_attempt_at",
            "retry_deadline",
            "hold_reason",
            "needs_confirmation",
            "created_at",
            "started_at",
            "finished_at",
            "calls",
        ]
        read_only_fields = fields

    def get_calls(self, operation) -> int:
        annotated = getattr(operation, "calls_count", None)
        return annotated if annotated is not None else operation.calls.count()


class OperationSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Operation
        fields = ["id", "kind", "status"]
        read_only_fields = fields


@extend_schema_field(OperationSummarySerializer(allow_null=True))
class PendingOperationField(serializers.Field):
    """The account's unfinished operation (``{"id", "kind", "status"}``) or null."""

    def __init__(self, **kwargs):
        kwargs.setdefault("source", "*")
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, account):
        operation = selectors.account_pending_operation(account)
        return OperationSummarySerializer(operation).data if operation is not None else None
