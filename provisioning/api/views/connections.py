from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.decorators import action
from rest_framework.response import Response

from ... import selectors, services
from ...models import Connection
from ...states import OperationKind
from ..filters import ConnectionFilter
from ..permissions import MANAGE_CONNECTION
from ..schema import MAY_EXIST_AT_PROVIDER
from ..serializers import ConnectionSerializer, OperationSerializer, QuarantineSerializer
from .base import ApiModelViewSet


@extend_schema_view(
    list=extend_schema(summary="List connections"),
    create=extend_schema(summary="Create a connection (needs manage_connection)"),
    retrieve=extend_schema(summary="A connection"),
    partial_update=extend_schema(summary="Change a connection (needs manage_connection)"),
    destroy=extend_schema(
        summary="Delete a connection (needs manage_connection)",
        description="Deletes the connection with its accounts, operations, their exchanges and its batches. "
        "Refused (409 connection_has_accounts) while one of its accounts may exist at the provider; the "
        "detail counts them and says what to do. Refused (409 connection_too_big) with more than "
        f"{selectors.DELETE_OPERATIONS_LIMIT:,} operations on record: disable it instead. {MAY_EXIST_AT_PROVIDER}",
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
        "quarantine": ("provisioning.view_connection", MANAGE_CONNECTION),
        "lift_quarantine": ("provisioning.view_connection", MANAGE_CONNECTION),
    }
    async_actions = frozenset({"check"})

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if self.action in ("list", "retrieve"):
            context["account_counts"] = services.counts_current(name="accounts_by_connection_and_status")
        return context

    def perform_destroy(self, connection):
        services.connection_delete(connection=connection)

    @extend_schema(
        summary="Run a health check now (needs manage_connection)", request=None, responses=OperationSerializer
    )
    @action(detail=True, methods=["post"])
    def check(self, request, pk=None, format=None):
        wait = self.wait_seconds()
        operation = services.operation_request(
            kind=OperationKind.HEALTH_CHECK, connection=self.get_object(), requested_by=self.requester()
        )
        return self.operation_accepted(operation, wait=wait)

    @extend_schema(
        summary="Quarantine a connection by hand (needs manage_connection)",
        description="Its operations are held (not sent) until a person lifts the quarantine; nothing "
        "probes it. 409 when it is already quarantined by hand. An automatic quarantine becomes a "
        "manual one.",
        request=QuarantineSerializer,
        responses=ConnectionSerializer,
    )
    @action(detail=True, methods=["post"])
    def quarantine(self, request, pk=None, format=None):
        body = QuarantineSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        connection = services.connection_quarantine(
            connection=self.get_object(), reason=body.validated_data.get("reason", ""), requested_by=self.requester()
        )
        return Response(ConnectionSerializer(connection).data)

    @extend_schema(
        summary="Lift a connection's quarantine (needs manage_connection)",
        description="Held operations are released gradually, in order. 409 when it is not quarantined.",
        request=None,
        responses=ConnectionSerializer,
    )
    @action(detail=True, methods=["post"], url_path="lift-quarantine", url_name="lift-quarantine")
    def lift_quarantine(self, request, pk=None, format=None):
        connection = services.connection_quarantine_lift(connection=self.get_object(), requested_by=self.requester())
        return Response(ConnectionSerializer(connection).data)
