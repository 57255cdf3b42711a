from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from ...providers import registry
from ..serializers import ProviderSerializer
from .base import ApiViewSet


@extend_schema_view(
    list=extend_schema(
        summary="List the installed providers: operations, credentials, settings and inputs",
        responses=inline_serializer(
            "ProviderList",
            {
                "count": serializers.IntegerField(),
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": ProviderSerializer(many=True),
            },
        ),
    ),
    retrieve=extend_schema(summary="One installed provider"),
)
class ProviderViewSet(ApiViewSet):
    """What each installed provider takes and does, from its own declaration: the same
    declaration the admin's forms and this API's checks are built from. Any signed-in user.
    The list has the shape of every list (``results``), on one page: providers are few."""

    serializer_class = ProviderSerializer
    permission_classes = [IsAuthenticated]
    pagination_class = None
    filter_backends = []
    lookup_field = "kind"
    lookup_value_regex = r"[a-z0-9_-]+"

    def list(self, request):
        providers = [provider.describe() for provider in registry.all_providers().values()]
        results = ProviderSerializer(providers, many=True).data
        return Response({"count": len(results), "next": None, "previous": None, "results": results})

    def retrieve(self, request, kind=None):
        provider = registry.all_providers().get(kind)
        if provider is None:
            raise NotFound(f"No provider '{kind}' is installed.")
        return Response(ProviderSerializer(provider.describe()).data)
