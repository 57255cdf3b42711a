"""The libraries' apps under names staff read: the admin's "System" section lists them by these.

Each subclass only renames its library's app (``verbose_name``), as Django's documentation
advises a project to; the label, models, URLs and ``ready()`` stay the library's, and
``INSTALLED_APPS`` names these in the libraries' place. Not DRF's ``authtoken`` ("Auth Token"): its
models are abstract unless ``INSTALLED_APPS`` names it by its module. The second-factor and
lockout pages say where to go by these names (``admin_path``): a name changed here changes there.
"""

from axes.apps import AppConfig as AxesConfig
from django.apps import apps
from django.utils.text import capfirst
from django_otp.plugins.otp_static.apps import DefaultConfig as OTPStaticConfig
from django_otp.plugins.otp_totp.apps import DefaultConfig as OTPTOTPConfig


class SignInsConfig(AxesConfig):
    verbose_name = "Sign-ins and lockouts"


class AuthenticatorAppsConfig(OTPTOTPConfig):
    verbose_name = "Second factor: authenticator apps"


class RecoveryCodesConfig(OTPStaticConfig):
    verbose_name = "Second factor: recovery codes"


def admin_path(app_label: str, model_name: str) -> str:
    """Where a model is in the admin, as a person finds it from the home page: "System → Second
    factor: authenticator apps → TOTP devices"."""
    model = apps.get_model(app_label, model_name)
    return f"System → {apps.get_app_config(app_label).verbose_name} → {capfirst(model._meta.verbose_name_plural)}"
