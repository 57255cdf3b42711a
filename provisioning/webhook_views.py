"""The public receiver of providers' webhooks: ``POST /webhooks/providers/<connection_id>/``.

No login and no CSRF (the provider's own signature is checked by its ``webhook_receiver``),
a per-client rate limit, a body size cap, JSON answers, and never a 500 for bad input.
"""

from django.conf import settings
from django.core.cache import cache
from django.http import JsonResponse
from django.urls import path, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from .security import client_ip

MAX_BODY_BYTES = 64 * 1024
WINDOW_SECONDS = 60


def _over_rate_limit(request) -> bool:
    key = f"inbound-webhook:{client_ip(request) or ''}"  # behind proxies: the sender, not the proxy
    cache.add(key, 0, WINDOW_SECONDS)
    try:
        count = cache.incr(key)
    except ValueError:
        cache.set(key, 1, WINDOW_SECONDS)
        count = 1
    return count > settings.PROVISIONING["INBOUND_WEBHOOK_RATE"]


@csrf_exempt
@never_cache
def provider_webhook(request, connection_id: int):
    from .services import inbound_webhook_receive

    if request.method != "POST":
        return JsonResponse({"detail": "POST only."}, status=405, headers={"Allow": "POST"})
    if _over_rate_limit(request):
        return JsonResponse({"detail": "Too many requests."}, status=429, headers={"Retry-After": str(WINDOW_SECONDS)})
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        return JsonResponse({"detail": "The body is too large."}, status=413)
    try:
        body = request.body
    except Exception:  # noqa: BLE001 - RequestDataTooBig and broken streams alike
        return JsonResponse({"detail": "The body could not be read."}, status=400)
    status, answer = inbound_webhook_receive(
        connection_id=connection_id, body=body[:MAX_BODY_BYTES], headers=dict(request.headers),
        remote_addr=client_ip(request),
    )
    return JsonResponse(answer, status=status)


urlpatterns = [
    path("webhooks/providers/<int:connection_id>/", provider_webhook, name="provider-webhook"),
]


def webhook_url(connection, request=None) -> str | None:
    """The absolute URL the connection's provider must send its webhooks to (``None``: its
    provider sends none). From the request when there is one, else ``PROVISIONING["PORTAL_URL"]``."""
    from .providers import registry

    provider = registry.all_providers().get(connection.provider)
    if provider is None or not provider.receives_webhooks or connection.pk is None:
        return None
    relative = reverse("provider-webhook", kwargs={"connection_id": connection.pk})
    if request is not None:
        return request.build_absolute_uri(relative)
    return settings.PROVISIONING["PORTAL_URL"].rstrip("/") + relative
