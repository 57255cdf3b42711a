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
