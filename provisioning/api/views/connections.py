from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.decorators import action

from ... import services
from ...models import Connection
from ...states import OperationKind
from ..filters import ConnectionFilter
from ..permissions import MANAGE_CONNECTION
from ..serializers import ConnectionSerializer, OperationSerializer
from .base import ApiModelViewSet


@extend_schema_view(
    list=extend_schema(summary="List connections"),
    create=extend_schema(summary="Create a connection (needs manage_connection)"),
    retrieve=extend_schema(summary="A connection"),
    partial_update=extend_schema(summary="Change a connection (needs manage_connection)"),
    destroy=extend_schema(
        summary="Delete a connection (needs manage_connection)",
        description="Refused (409) while it holds accounts that are not deprovisioned.",
    ),
)
class ConnectionViewSet(ApiModelViewSet):
    queryset = Connection.objects.all()
    serializer_class = ConnectionSerializer
    filterset_class = ConnectionFilter
    action_permissions = {
        "create": ("provisioning.add_connection", MANAGE_CONNECTION),
        "partial_update": ("provisioning.change_connection", MANAGE_CONNECTION),
        "destroy": ("provisioning.delete_connection", MANAGE_CONNECTION),
        "check": ("provisioning.view_connection", MANAGE_CONNECTION),
    }
    async_actions = frozenset({"check"})

    def perform_destroy(self, connection):
        services.connection_delete(connection=connection)

    @extend_schema(
        summary="Run a health check now (needs manage_connection)", request=None, responses=OperationSerializer
    )
    @action(detail=True, methods=["post"])
    def check(self, request, pk=None):
        wait = self.wait_seconds()
        operation = services.operation_request(
            kind=OperationKind.HEALTH_CHECK, connection=self.get_object(), requested_by=self.requester()
        )
        return self.operation_accepted(operation, wait=wait)
