from django.urls import path

from . import views, views_public

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
    path("validate/flyve/<int:connection_id>/", views_public.flyve_validation, name="flyve-validation"),
]
