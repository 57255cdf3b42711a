from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("provisioning.api.urls")),
    path("", include("provisioning.urls")),
]
