"""``/api/v1/...`` (the resources), ``/api/schema/`` (OpenAPI 3) and ``/api/docs/`` (Swagger UI)."""

from django.urls import include, path
from rest_framework.routers import APIRootView, DefaultRouter

from . import views
from .docs import DocsView, SchemaView

app_name = "api"


class PortalAPIRoot(APIRootView):
    """The provisioning portal's API, version 1: a list of each kind of resource, below.

    Every endpoint, its fields, its errors and what to do about them: /api/docs/ (the OpenAPI 3
    schema: /api/schema/)."""

    def get_view_name(self):
        return "Provisioning portal API, version 1"


class PortalRouter(DefaultRouter):
    APIRootView = PortalAPIRoot


router = PortalRouter()
router.register("connections", views.ConnectionViewSet, basename="connection")
router.register("members", views.MemberViewSet, basename="member")
router.register("accounts", views.AccountViewSet, basename="account")
router.register("operations", views.OperationViewSet, basename="operation")
router.register("batches", views.BatchViewSet, basename="batch")
router.register("providers", views.ProviderViewSet, basename="provider")
router.register("webhooks", views.WebhookEndpointViewSet, basename="webhook")

urlpatterns = [
    path("v1/", include(router.urls)),
    path("schema/", SchemaView.as_view(), name="schema"),
    path("docs/", DocsView.as_view(url_name="api:schema"), name="docs"),
]
