"""Plain Django views: service endpoints and public pages."""

from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@require_GET
def healthz(request):
    """The process is up (no dependency is checked; see ``/readyz``)."""
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request):
    """Database and broker reachable: 200, else 503; JSON detail either way."""
    from .api.probes import readiness

    ready, detail = readiness()
    return JsonResponse(detail, status=200 if ready else 503)


@require_GET
@never_cache
def metrics(request):
    """Prometheus text format: operations, accounts, recent provider calls."""
    from .api.probes import metrics_text

    return HttpResponse(metrics_text(), content_type="text/plain; version=0.0.4; charset=utf-8")
