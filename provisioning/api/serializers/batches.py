from drf_spectacular.utils import extend_schema_field
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


class BatchLeftOutSerializer(serializers.Serializer):
    """The members given to a batch that it did not send, and why, as recorded when it was made
    (``Batch.left_out``)."""

    count = serializers.IntegerField(help_text="How many of the members given were not sent.")
    over_quota = serializers.IntegerField(
        help_text="Left out because the connection's quota allows no more accounts."
    )
    over_quota_members = serializers.ListField(
        child=serializers.IntegerField(),
        help_text=f"The first of those (at most {selectors.BATCH_SAMPLE_NAMES}): member ids, in the order given.",
    )
    incomplete = serializers.IntegerField(
        help_text="Left out because the provider cannot register them as they are (at Xhoppe: no phone number); "
        "message says what they lack.",
    )
    incomplete_members = serializers.ListField(
        child=serializers.IntegerField(),
        help_text=f"The first of those (at most {selectors.BATCH_SAMPLE_NAMES}): member ids, in the order given.",
    )
    already_there = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Left alone because their account there is active, waiting for a person or busy: by its status.",
    )
    message = serializers.CharField(help_text='What was left out and what to do, or "" when nothing was.')


class BatchDetailSerializer(BatchSerializer):
    """One batch: its progress, and how many of its accounts now wait for a person (as its admin
    page says). Not in the list: it is one more query per batch."""

    awaiting_a_person = serializers.SerializerMethodField(
        help_text="How many of the batch's accounts now wait for a person's step (a captcha answer, an SMS "
        "code, an email validation): their provisioning is done, their registration is not. "
        "/accounts/?needs_person=true lists every account that needs a person, these among them.",
    )

    left_out = serializers.SerializerMethodField(
        help_text="Which of the members given it did not send, and why, as the answer to its request said; null "
        "for a batch of operations requested in the admin, which gives no members."
    )

    class Meta(BatchSerializer.Meta):
        fields = [*BatchSerializer.Meta.fields, "awaiting_a_person", "left_out"]
        read_only_fields = fields

    def get_awaiting_a_person(self, batch) -> int:
        return sum(selectors.batch_accounts_awaiting_a_person(batch).values())

    @extend_schema_field(BatchLeftOutSerializer(allow_null=True))
    def get_left_out(self, batch) -> dict | None:
        return BatchLeftOutSerializer(batch.left_out).data if batch.left_out else None


class BatchCreatedSerializer(BatchSerializer):
    """The answer to a new batch: the batch, and which of the members given it left out."""

    left_out = BatchLeftOutSerializer(read_only=True)

    class Meta(BatchSerializer.Meta):
        fields = [*BatchSerializer.Meta.fields, "left_out"]
        read_only_fields = fields


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
