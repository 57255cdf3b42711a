from django.contrib import admin
from django.urls import include, path

# the admin's modules are loaded with the URLs, not at start-up (provisioning.apps.PortalAdminConfig)
admin.autodiscover()

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("provisioning.api.urls")),
    path("", include("provisioning.urls")),
]

# under /api/, a path nothing serves and an unexpected error answer JSON like the rest of the API
handler404 = "provisioning.views.not_found"
handler500 = "provisioning.views.server_error"
