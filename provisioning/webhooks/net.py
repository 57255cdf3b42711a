"""Sending an outbound webhook safely: HTTPS, public addresses only, pinned, short, no redirects.

The host name of an endpoint is resolved, **every** address it resolves to is checked (private,
loopback, link-local, multicast, reserved, unspecified and other non-global addresses are refused
unless inside ``WEBHOOKS_ALLOWED_NETWORKS``; loopback is allowed with
``WEBHOOKS_ALLOW_HTTP_LOOPBACK``), and the request is then sent **to the address that was
checked** (urllib3 connection pool on the IP, TLS verified against the host name through SNI), so
a DNS answer that changes between check and connect (rebinding) cannot reach an internal
address. Redirects are not followed (a 3xx is a failed attempt); only an excerpt of the answer is
read and kept.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import certifi
import urllib3
from django.conf import settings

EXCERPT_CHARS = 500


class UnsafeURL(Exception):
    """The URL may not receive webhooks (a sentence saying why)."""


@dataclass
class SendResult:
    status_code: int | None
    excerpt: str
    duration_ms: int
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _conf():
    return settings.PROVISIONING


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (a module function: tests replace it)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def address_refusal(address: str) -> str | None:
    """Why ``address`` may not receive webhooks, or ``None`` when it may."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for network in _conf()["WEBHOOKS_ALLOWED_NETWORKS"]:
        if ip in ipaddress.ip_network(network, strict=False):
            return None
    if ip.is_loopback:
        return None if _conf()["WEBHOOKS_ALLOW_HTTP_LOOPBACK"] else "a loopback address"
    for test, what in (
        ("is_unspecified", "an unspecified address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_reserved", "a reserved address"),
        ("is_private", "a private address"),
    ):
        if getattr(ip, test):
            return what
    if not ip.is_global:
        return "not a public address"
    return None


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


def check_url(url: str) -> Target:
    """The endpoint's checked target (its addresses resolved now), or ``UnsafeURL``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL(f"Not a valid URL: {exc}.") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UnsafeURL("Enter an absolute https:// URL.")
    if parts.username or parts.password:
        raise UnsafeURL("A webhook URL may not hold a user name or password.")
    host = parts.hostname
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError):
        raise UnsafeURL(f"The host name {host} cannot be resolved.") from None
    if not addresses:
        raise UnsafeURL(f"The host name {host} cannot be resolved.")
    for address in addresses:
        refusal = address_refusal(address)
        if refusal:
            raise UnsafeURL(f"{host} resolves to {address}, {refusal}: webhooks are only sent to public addresses.")
    if parts.scheme == "http":
        loopback_only = all(ipaddress.ip_address(a.split("%", 1)[0]).is_loopback for a in addresses)
        if not (_conf()["WEBHOOKS_ALLOW_HTTP_LOOPBACK"] and loopback_only):
            raise UnsafeURL(
                "Webhook URLs must use https:// (plain http:// only to a loopback address, in development, "
                "with WEBHOOKS_ALLOW_HTTP_LOOPBACK)."
            )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port, path, tuple(addresses))


def post(url: str, body: bytes, headers: dict[str, str], *, redact=lambda text: text) -> SendResult:
    """POST ``body`` to ``url`` after checking it again; never raises for network trouble."""
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target = check_url(url)
    except UnsafeURL as exc:
        return SendResult(None, "", took(), f"Not sent, the portal refused the address: {exc}")
    conf = _conf()
    timeout = urllib3.Timeout(connect=conf["WEBHOOK_CONNECT_TIMEOUT_SECONDS"], read=conf["WEBHOOK_READ_TIMEOUT_SECONDS"])
    address = target.addresses[0]
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
    if ":" in target.host and target.port == default_port:
        host_header = f"[{target.host}]"
    common = {"port": target.port, "timeout": timeout, "retries": False, "maxsize": 1}
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            address, server_hostname=target.host, assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED", ca_certs=certifi.where(), **common,
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, **common)
    try:
        response = pool.urlopen(
            "POST", target.path, body=body, headers={**headers, "Host": host_header},
            redirect=False, retries=False, preload_content=False, assert_same_host=False,
        )
        try:
            raw = response.read(EXCERPT_CHARS * 4, decode_content=False)
        except Exception:  # noqa: BLE001 - an answer that breaks while read: keep its status
            raw = b""
        status = response.status
        response.close()
        excerpt = redact(raw.decode("utf-8", "replace"))[:EXCERPT_CHARS]
        error = (
            f"The endpoint answered with a redirect to {response.headers.get('Location', '?')[:200]}, which is "
            "not followed: give the endpoint's final URL."
        ) if 300 <= status < 400 else ""
        return SendResult(status, excerpt, took(), error)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        return SendResult(None, "", took(), unsent_words(exc, conf))
    finally:
        pool.close()


def unsent_words(exc: Exception, conf: dict) -> str:
    """Why nothing came back, in a sentence: "Could not connect: the connection was refused, so
    nothing listens at that address and port.", with the system's reason where it says more."""
    errors = urllib3.exceptions
    reason = str(exc)[:200]
    if isinstance(exc, (errors.NewConnectionError, ConnectionError)):
        reason = str(exc).rsplit(": ", 1)[-1][:200]  # "…: Failed to establish a new connection: [Errno 113] No route to host"
        if "refused" in reason.lower():
            return "Could not connect: the connection was refused, so nothing listens at that address and port."
        return f"Could not connect ({reason})."
    if isinstance(exc, errors.ConnectTimeoutError):
        return f"Could not connect: no answer within {conf['WEBHOOK_CONNECT_TIMEOUT_SECONDS']:g} s."
    if isinstance(exc, errors.ReadTimeoutError):
        return f"Connected and sent, but no answer came within {conf['WEBHOOK_READ_TIMEOUT_SECONDS']:g} s."
    if isinstance(exc, errors.SSLError):
        return f"The secure connection failed ({reason})."
    if isinstance(exc, errors.ProtocolError):
        return f"The connection broke before an answer came ({reason})."
    return f"Could not send ({type(exc).__name__}: {str(exc)[:200]})."
