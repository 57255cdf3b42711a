from django.contrib import admin
from django.urls import include, path

# the admin's modules are loaded with the URLs, not at start-up (provisioning.apps.PortalAdminConfig)
admin.autodiscover()

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("provisioning.api.urls")),
    path("", include("provisioning.urls")),
]

# under /api/, an unexpected error answers JSON like the rest of the API (a path nothing serves:
# provisioning.api.middleware.json_not_found)
handler500 = "provisioning.views.server_error"
# in the admin, a refused page says what it needs and which roles give it
handler403 = "provisioning.views.permission_denied"
