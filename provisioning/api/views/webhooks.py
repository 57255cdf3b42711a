from django_filters.utils import translate_validation
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from ... import services
from ...models import WebhookEndpoint, WebhookEventType
from ..filters import WebhookDeliveryFilter
from ..ids import parse_id
from ..permissions import MANAGE_CONNECTION
from ..serializers.webhooks import (
    WebhookDeliverySerializer,
    WebhookEndpointCreatedSerializer,
    WebhookEndpointSerializer,
)
from .base import ApiModelViewSet


@extend_schema_view(
    list=extend_schema(summary="List webhook endpoints (needs manage_connection)"),
    create=extend_schema(
        summary="Add a webhook endpoint (needs manage_connection)",
        description="The answer holds the signing secret (whsec_…), shown this once only. Deliveries follow "
        "Standard Webhooks: headers webhook-id, webhook-timestamp, webhook-signature; body {type, timestamp, data}.",
        responses={201: WebhookEndpointCreatedSerializer},
    ),
    retrieve=extend_schema(summary="A webhook endpoint"),
    partial_update=extend_schema(summary="Change a webhook endpoint (enabled=true re-enables a disabled one)"),
    destroy=extend_schema(summary="Delete a webhook endpoint and its deliveries"),
)
class WebhookEndpointViewSet(ApiModelViewSet):
    queryset = WebhookEndpoint.objects.select_related("owner").all()
    serializer_class = WebhookEndpointSerializer
    filterset_class = None
    filterset_fields: list = []
    action_permissions = {
        name: (MANAGE_CONNECTION,)
        for name in ("list", "retrieve", "create", "partial_update", "destroy", "deliveries", "redeliver")
    }

    def create(self, request, *args, **kwargs):
        serializer = WebhookEndpointSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        endpoint = serializer.save()
        return Response(WebhookEndpointCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="The endpoint's deliveries, newest first",
        parameters=[OpenApiParameter("type", str, enum=WebhookEventType.values, description="Only this event type's.")],
        responses=WebhookDeliverySerializer(many=True),
    )
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None, format=None):
        endpoint = self.get_object()
        queryset = endpoint.deliveries.select_related("event").order_by("-created_at", "-id")
        # the deliveries' filter, not the endpoints' (get_object above filters endpoints)
        filterset = WebhookDeliveryFilter(request.query_params, queryset=queryset, request=request)
        if not filterset.is_valid():
            raise translate_validation(filterset.errors)
        page = self.paginate_queryset(filterset.qs)
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)

    @extend_schema(summary="Send a delivery again now (same event id)", request=None,
                   responses={202: WebhookDeliverySerializer})
    @action(detail=True, methods=["post"], url_path=r"deliveries/(?P<delivery>[^/]+)/redeliver",
            url_name="redeliver")
    def redeliver(self, request, pk=None, delivery=None, format=None):
        endpoint = self.get_object()
        delivery_id = parse_id(delivery)
        found = endpoint.deliveries.filter(pk=delivery_id).first() if delivery_id is not None else None
        if found is None:
            raise NotFound()
        found = services.webhook_delivery_redeliver(delivery=found)
        return Response(WebhookDeliverySerializer(found).data, status=status.HTTP_202_ACCEPTED)
