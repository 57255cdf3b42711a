from django.urls import path

from . import views, webhook_views
from .providers import registry

urlpatterns = [
    path("favicon.ico", views.favicon, name="favicon"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
    # public pages of the installed providers (e.g. Flyve's /validate/flyve/<connection_id>/)
    *registry.public_urlpatterns(),
    # providers' webhooks, one receiver per connection (POST /webhooks/providers/<connection_id>/)
    *webhook_views.urlpatterns,
]
