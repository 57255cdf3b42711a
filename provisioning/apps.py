from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class ProvisioningConfig(AppConfig):
    name = "provisioning"
    verbose_name = "Provisioning"

    def ready(self):
        from . import checks  # noqa: F401  (registers system checks)


class PortalAdminConfig(admin_apps.AdminConfig):
    """``django.contrib.admin`` with the portal's site (its home page is the day's work);
    named in ``INSTALLED_APPS`` in its place."""

    default = False  # ProvisioningConfig stays this module's default

    default_site = "provisioning.admin_site.PortalAdminSite"
