from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.contrib.admin.checks import check_admin_app, check_dependencies
from django.core import checks


class ProvisioningConfig(AppConfig):
    name = "provisioning"
    verbose_name = "Provisioning"

    def ready(self):
        from django.db.backends.signals import connection_created
        from django.db.models.signals import pre_save
        from rest_framework.authtoken.models import Token, TokenProxy

        from portal.timestamps import connection_use_iso_timestamps

        from . import checks, lookups  # noqa: F401  (register system checks and the search lookups)
        from .api.tokens import digest_new_token
        from .models import ApiToken

        connection_created.connect(connection_use_iso_timestamps, dispatch_uid="portal.timestamps")
        for token_model in (Token, TokenProxy, ApiToken):  # a proxy's save sends the proxy
            pre_save.connect(digest_new_token, sender=token_model, dispatch_uid=f"token-digest-{token_model.__name__}")


class PortalAdminConfig(admin_apps.SimpleAdminConfig):
    """``django.contrib.admin`` with the portal's site (its home page is the day's work);
    named in ``INSTALLED_APPS`` in its place.

    Simple: the ``admin`` modules are imported with the URLconf (``portal.urls`` calls
    ``autodiscover``), not by ``django.setup()``. A worker, which serves no page, then never loads
    the admin and what it brings (import-export, openpyxl...): about 24 MB less per process.
    """

    default = False  # ProvisioningConfig stays this module's default

    default_site = "provisioning.admin_site.PortalAdminSite"

    def ready(self):
        # SimpleAdminConfig's two checks, the ModelAdmins loaded first: a `manage.py check` may
        # run them before it reads the URLs
        checks.register(check_dependencies, checks.Tags.admin)
        checks.register(check_model_admins, checks.Tags.admin)


def check_model_admins(app_configs, **kwargs):
    from django.contrib import admin

    admin.autodiscover()
    return check_admin_app(app_configs, **kwargs)
