"""Who is calling: the client's address behind the trusted proxies (see README, "Security").

``TRUSTED_PROXY_COUNT`` proxies stand in front of the web processes (0: none, the address is
``REMOTE_ADDR``). Each proxy appends the address it saw to ``X-Forwarded-For``; only the last
``TRUSTED_PROXY_COUNT`` entries were written by proxies we trust, so the client is the entry the
outermost trusted proxy appended, never one a caller could have put there itself.
"""

from __future__ import annotations

from django.conf import settings


def client_ip(request) -> str | None:
    """The caller's address: the sign-in lockout (axes), the metrics allow-list, the audit."""
    remote = request.META.get("REMOTE_ADDR") or None
    count = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if count <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < count:  # not through the whole chain of proxies: the nearest one we know
        return forwarded[0] if forwarded else remote
    return forwarded[-count]


def _in_networks(address: str | None, entries) -> bool:
    import ipaddress

    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for entry in entries:
        try:
            if ip in ipaddress.ip_network(entry.strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


def _is_loopback(address: str | None) -> bool:
    import ipaddress

    try:
        return bool(address) and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def has_metrics_token(request) -> bool:
    from django.utils.crypto import constant_time_compare

    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    return bool(token) and scheme.lower() == "bearer" and constant_time_compare(given.strip(), token)


def metrics_refusal(request) -> int | None:
    """``None`` when ``request`` may read ``/metrics``, else the status to answer (401 or 403).

    Allowed: the bearer token ``METRICS_TOKEN``, or an address in ``METRICS_ALLOWED_IPS``; with
    neither configured, loopback callers only.
    """
    if has_metrics_token(request):
        return None
    address = client_ip(request)
    if settings.METRICS_ALLOWED_IPS:
        if _in_networks(address, settings.METRICS_ALLOWED_IPS):
            return None
    elif not settings.METRICS_TOKEN and _is_loopback(address):
        return None
    return 401 if settings.METRICS_TOKEN else 403
