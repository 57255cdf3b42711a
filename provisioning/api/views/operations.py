from django.db.models import Count
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.response import Response

from ... import services
from ...models import Operation
from ..filters import OperationFilter
from ..permissions import permission_for_kind
from ..serializers import OperationSerializer
from .base import ApiViewSet


@extend_schema_view(
    list=extend_schema(summary="List operations"),
    retrieve=extend_schema(summary="An operation"),
)
class OperationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    # retrying or cancelling needs the permission requesting that kind needs
    # (provision_account, deprovision_account or manage_connection): see permission_for_kind

    serializer_class = OperationSerializer
    filterset_class = OperationFilter
    action_permissions = {
        "retry": ("provisioning.view_operation",),
        "cancel": ("provisioning.view_operation",),
    }
    async_actions = frozenset({"retry"})

    def get_queryset(self):
        return Operation.objects.annotate(calls_count=Count("calls")).order_by("-created_at", "-id")

    def get_kind_checked_object(self) -> Operation:
        operation = self.get_object()
        if not self.request.user.has_perm(permission_for_kind(operation.kind)):
            self.permission_denied(self.request, message="You may not request operations of this kind.")
        return operation

    @extend_schema(
        summary="Retry a failed operation (as a new operation)", request=None, responses=OperationSerializer
    )
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        wait = self.wait_seconds()
        operation = services.operation_retry(operation=self.get_kind_checked_object(), requested_by=self.requester())
        return self.operation_accepted(operation, wait=wait)

    @extend_schema(
        summary="Cancel a queued operation or one waiting to retry", request=None, responses=OperationSerializer
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        operation = services.operation_cancel(operation=self.get_kind_checked_object(), requested_by=self.requester())
        operation = self.get_queryset().get(pk=operation.pk)
        return Response(OperationSerializer(operation).data)
