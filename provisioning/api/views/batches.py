from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.reverse import reverse

from ... import selectors, services
from ...models import Batch
from ..filters import BatchFilter
from ..permissions import PROVISION
from ..serializers import BatchCreatedSerializer, BatchCreateSerializer, BatchDetailSerializer, BatchSerializer
from .base import ApiViewSet


@extend_schema_view(
    list=extend_schema(summary="List batches"),
    retrieve=extend_schema(summary="A batch, its progress and how many of its accounts wait for a person",
                           responses=BatchDetailSerializer),
)
class BatchViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    serializer_class = BatchSerializer
    filterset_class = BatchFilter
    action_permissions = {"create": ("provisioning.add_batch", PROVISION)}
    async_actions = frozenset({"create"})

    queryset = Batch.objects.all()

    def get_serializer_class(self):
        return BatchDetailSerializer if self.action == "retrieve" else super().get_serializer_class()

    @extend_schema(
        summary="Provision many members at once",
        request=BatchCreateSerializer,
        responses=BatchCreatedSerializer,
        # the rule of selectors.batch_preview, which the admin shows before sending
        description="The rule the admin shows before sending: members "
        "without an account there get one; a pending, failed or deprovisioned account there is "
        "provisioned again; other accounts are left alone; never more than the connection's quota "
        "still allows (the first ones in the list; 409 quota_exceeded when none fits). The answer's "
        "left_out says which of the members given were not sent, and why. With ?wait=, answers 200 once "
        "every operation of the batch finished.",
    )
    def create(self, request, format=None):
        wait = self.wait_seconds()
        serializer = BatchCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        batch = services.batch_create(**serializer.validated_data, requested_by=self.requester())
        return self.accepted(
            location=reverse("api:batch-detail", args=[batch.pk], request=request),
            wait=wait,
            is_finished=lambda: selectors.batch_is_finished(batch.pk),
            render=lambda: BatchCreatedSerializer(batch).data,
        )
