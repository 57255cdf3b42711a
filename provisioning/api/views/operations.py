from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.response import Response

from ... import selectors, services
from ...fields import encrypted_paths
from ...models import Operation
from ..filters import OperationFilter
from ..pagination import NewestFirstCursorPagination
from ..permissions import permission_for_kind
from ..serializers import OperationSerializer
from .base import ApiViewSet


@extend_schema_view(
    list=extend_schema(summary="List operations"),
    retrieve=extend_schema(summary="An operation"),
)
class OperationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    # retrying, cancelling or confirming needs the permission requesting that kind needs
    # (provision_account, deprovision_account or manage_connection): see permission_for_kind

    serializer_class = OperationSerializer
    filterset_class = OperationFilter
    pagination_class = NewestFirstCursorPagination
    action_permissions = {
        "retry": ("provisioning.view_operation",),
        "cancel": ("provisioning.view_operation",),
        "confirm": ("provisioning.view_operation",),
    }
    async_actions = frozenset({"retry"})

    def get_queryset(self):
        operations = Operation.objects.order_by("-id")
        if self.action in ("list", "retrieve"):  # shown without their secret input (a retry needs it)
            operations = operations.defer(*encrypted_paths(Operation))
        return selectors.operations_with_calls_count(operations)

    def get_kind_checked_object(self) -> Operation:
        operation = self.get_object()
        if not self.request.user.has_perm(permission_for_kind(operation.kind)):
            self.permission_denied(self.request, message="You may not request operations of this kind.")
        return operation

    @extend_schema(
        summary="Retry an operation",
        description="A failed operation is requested again as a new operation with the same input "
        "(202 with the new one). One waiting to retry, or held by its connection's quarantine, is "
        "sent now (200 with it; a held one goes through the quarantine as its probe). Needs the "
        "permission its kind needs. 409 retry_cannot_help when the same input would be refused again "
        "(a wrong SMS code or captcha answer, a refused validation link): the detail says what to "
        "request instead.",
        request=None,
        responses=OperationSerializer,
    )
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None, format=None):
        wait = self.wait_seconds()
        original = self.get_kind_checked_object()
        operation = services.operation_retry(operation=original, requested_by=self.requester())
        if operation.pk == original.pk:  # retried now, in place
            return Response(OperationSerializer(self.get_queryset().get(pk=operation.pk)).data)
        return self.operation_accepted(operation, wait=wait)

    @extend_schema(
        summary="Cancel a queued operation, one waiting to retry or a held one",
        request=None,
        responses=OperationSerializer,
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None, format=None):
        operation = services.operation_cancel(operation=self.get_kind_checked_object(), requested_by=self.requester())
        operation = self.get_queryset().get(pk=operation.pk)
        return Response(OperationSerializer(operation).data)

    @extend_schema(
        summary="Confirm an operation held by the mass-deletion guard",
        description="A deprovision beyond the hourly threshold of its connection, or a reconciliation "
        "that would flag many accounts at once, waits for a person (status held, needs_confirmation). "
        "Confirming queues it (200 with the operation). Needs the permission its kind needs "
        "(deprovision_account for a deprovision). 409 when it does not await a confirmation.",
        request=None,
        responses=OperationSerializer,
    )
    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None, format=None):
        operation = services.operation_confirm(operation=self.get_kind_checked_object(), requested_by=self.requester())
        return Response(OperationSerializer(self.get_queryset().get(pk=operation.pk)).data)
