"""Plain Django views: service endpoints and public pages."""

from django.http import JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def healthz(request):
    """The process is up (no dependency is checked; see ``/readyz``)."""
    return JsonResponse({"status": "ok"})
