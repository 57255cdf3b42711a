"""Plain Django views: service endpoints and public pages."""

from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .security import has_metrics_token, metrics_refusal


@require_GET
def favicon(request):
    """Browsers ask every site for ``/favicon.ico``: the portal's icon (a 404 otherwise, logged in
    every page's console)."""
    return redirect(static("provisioning/favicon.ico"))


@require_GET
def healthz(request):
    """The process is up (no dependency is checked; see ``/readyz``)."""
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request):
    """Database and broker reachable: 200, else 503. Anyone learns up or down
    (``{"status": "ok"|"unavailable"}``); the checks' detail only signed-in staff and callers
    with the metrics token."""
    from .api.probes import readiness

    ready, detail = readiness()
    user = getattr(request, "user", None)
    if not ((user is not None and user.is_active and user.is_staff) or has_metrics_token(request)):
        detail = {"status": detail["status"]}
    return JsonResponse(detail, status=200 if ready else 503)


@require_GET
@never_cache
def metrics(request):
    """Prometheus text format: operations, accounts, recent provider calls. Only with the
    metrics token or from an allowed address (``security.metrics_refusal``)."""
    from .api.probes import metrics_text

    refused = metrics_refusal(request)
    if refused is not None:
        response = HttpResponse("Not allowed to read the metrics.\n", status=refused, content_type="text/plain")
        if refused == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(metrics_text(), content_type="text/plain; version=0.0.4; charset=utf-8")


def permission_denied(request, exception):
    """``handler403``: in the admin, a page in its frame that says what the refused page needs
    (the exception's words) and which roles give what, where Django showed "403 Forbidden" alone.
    Elsewhere, Django's own."""
    from django.contrib import admin
    from django.template.response import TemplateResponse

    from .admin.users import ROLE_WORDS

    if not request.path.startswith("/admin/") or not request.user.is_authenticated:
        return defaults.permission_denied(request, exception)
    context = {
        **admin.site.each_context(request),
        "title": "You cannot open this page",
        "reason": str(exception) if exception is not None and str(exception) else "",
        "roles": ROLE_WORDS.items(),
    }
    return TemplateResponse(request, "admin/provisioning/permission_denied.html", context, status=403)


def server_error(request):
    """An unexpected error (``handler500``, logged with its traceback): JSON under ``/api/``."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"detail": "The portal hit an unexpected error; it is logged for the engineers.", "code": "server_error"},
            status=500,
        )
    return defaults.server_error(request)
