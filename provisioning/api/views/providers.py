from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from ...providers import registry
from ..serializers import ProviderSerializer
from .base import ApiViewSet


@extend_schema_view(
    list=extend_schema(summary="List the installed providers: operations, credentials, settings and inputs"),
    retrieve=extend_schema(summary="One installed provider, by kind"),
)
class ProviderViewSet(ApiViewSet):
    """What each installed provider takes and does, from its own declaration: the same
    declaration the admin's forms and this API's checks are built from. Any signed-in user."""

    serializer_class = ProviderSerializer
    permission_classes = [IsAuthenticated]
    filter_backends = []
    lookup_field = "kind"

    def list(self, request, format=None):
        providers = [provider.describe() for provider in registry.all_providers().values()]
        page = self.paginate_queryset(providers)
        return self.get_paginated_response(ProviderSerializer(page, many=True).data)

    def retrieve(self, request, kind=None, format=None):
        provider = registry.all_providers().get(kind)
        if provider is None:
            raise NotFound(f"No provider '{kind}' is installed.")
        return Response(ProviderSerializer(provider.describe()).data)
