"""``/api/schema/`` and ``/api/docs/``: open under ``DEBUG`` or with ``API_DOCS_PUBLIC``,
otherwise for signed-in users only (session or token)."""

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import BasePermission


def docs_are_public() -> bool:
    return settings.DEBUG or settings.API_DOCS_PUBLIC


class DocsPermission(BasePermission):
    def has_permission(self, request, view):
        return docs_are_public() or bool(request.user and request.user.is_authenticated)


class SchemaView(SpectacularAPIView):
    permission_classes = [DocsPermission]


class DocsView(SpectacularSwaggerSplitView):
    permission_classes = [DocsPermission]

    @extend_schema(exclude=True)  # as the parent's: not part of the API
    def get(self, request, *args, **kwargs):
        if not (docs_are_public() or request.user.is_authenticated):  # a person: the sign-in page
            return redirect_to_login(request.get_full_path(), "admin:login")
        return super().get(request, *args, **kwargs)
