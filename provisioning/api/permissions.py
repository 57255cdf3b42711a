"""Who may do what through the API.

``ModelPermissions`` is the default permission class (settings): Django model permissions, with
``view_<model>`` required for reads as well. A viewset can name the exact permissions of any
of its actions in ``action_permissions`` (``{"create": ("provisioning.provision_account", ...)}``);
actions not listed fall back to the model permission of the HTTP method.
"""

from rest_framework.permissions import DjangoModelPermissions

from ..states import (
    DEPROVISION_PERMISSION as DEPROVISION,
    MANAGE_CONNECTION_PERMISSION as MANAGE_CONNECTION,
    OPERATION_SPECS,
    PROVISION_PERMISSION as PROVISION,
    VIEW_SECRETS_PERMISSION as VIEW_SECRETS,
)


class ModelPermissions(DjangoModelPermissions):
    perms_map = {
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": [],
        "POST": ["%(app_label)s.add_%(model_name)s"],
        "PUT": ["%(app_label)s.change_%(model_name)s"],
        "PATCH": ["%(app_label)s.change_%(model_name)s"],
        "DELETE": ["%(app_label)s.delete_%(model_name)s"],
    }

    def has_permission(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return False
        required = getattr(view, "action_permissions", {}).get(getattr(view, "action", None))
        if required is None:
            if getattr(view, "_ignore_model_permissions", False):
                return True
            queryset = self._queryset(view)
            required = self.get_required_permissions(request.method, queryset.model)
        return request.user.has_perms(required)


def permission_for_kind(kind: str) -> str:
    """The permission that requesting (retrying, cancelling) an operation of ``kind`` needs."""
    return OPERATION_SPECS[kind].permission
