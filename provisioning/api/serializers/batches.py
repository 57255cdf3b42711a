from rest_framework import serializers

from ... import selectors
from ...models import Batch, Connection, Member
from ...states import OperationStatus
from .fields import IdListField, IdRelatedField, StrictBooleanField


class BatchListSerializer(serializers.ListSerializer):
    """A page of batches: their progress in one query (``selectors.batches_progress``)."""

    def to_representation(self, data):
        batches = list(data.all() if hasattr(data, "all") else data)
        progress = selectors.batches_progress(batches)
        for batch in batches:
            batch.listed_progress = progress[batch.pk]
        return super().to_representation(batches)


class BatchSerializer(serializers.ModelSerializer):
    """A batch and its progress, derived from its operations."""

    total = serializers.IntegerField(source="progress.total", read_only=True)
    counts = serializers.DictField(
        source="progress.counts",
        child=serializers.IntegerField(),
        read_only=True,
        help_text=f"Operations by status ({', '.join(OperationStatus.values)}).",
    )
    finished = serializers.BooleanField(source="progress.finished", read_only=True)

    class Meta:
        model = Batch
        fields = ["id", "connection", "requested_by", "total", "counts", "finished", "created_at"]
        read_only_fields = fields
        list_serializer_class = BatchListSerializer

    def to_representation(self, batch):
        listed = getattr(batch, "listed_progress", None)
        batch.progress = listed if listed is not None else selectors.batch_progress(batch)
        return super().to_representation(batch)


class BatchCreateSerializer(serializers.Serializer):
    """``members`` or ``all_without_account: true`` (every member without an account there)."""

    connection = IdRelatedField(queryset=Connection.objects.all())
    members = IdListField(queryset=Member.objects.all(), required=False, allow_empty=False)
    all_without_account = StrictBooleanField(required=False, default=False)

    def validate(self, attrs):
        if bool(attrs.get("members")) == bool(attrs.get("all_without_account")):
            raise serializers.ValidationError(
                {"members": ["Give either a list of members or all_without_account: true."]}
            )
        return attrs
