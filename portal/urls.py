from django.contrib import admin
from django.urls import include, path

# the admin's modules are loaded with the URLs, not at start-up (provisioning.apps.PortalAdminConfig)
admin.autodiscover()

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("provisioning.api.urls")),
    path("", include("provisioning.urls")),
]
