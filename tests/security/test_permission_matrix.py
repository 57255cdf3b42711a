"""Who may do what: every URL of the project, generated from the URL configuration, against five
roles (anonymous, operator, auditor, secret keeper, superuser), GET and POST.

Every URL pattern must have a kind in ``EXPLICIT`` (or be one of the generic ModelAdmin and
router pages): a new page nobody classified fails ``test_every_url_pattern_has_a_kind``, so it
cannot be forgotten. Each kind says, per role, what class of answer is allowed.
"""

from __future__ import annotations

import re
from collections import defaultdict

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from tests.conftest import pass_second_factor

EXPLICIT = {
    # public, or for machines
    "healthz": "public",
    "readyz": "public",
    "flyve-validation": "public",
    "favicon": "icon",
    "metrics": "metrics",
    "api:schema": "docs",
    "api:docs": "docs",
    # signing in
    "admin:login": "admin-auth",
    "admin:logout": "admin-auth",
    "admin:second_factor": "admin-2fa",
    "admin:second_factor_enrol": "admin-2fa",
    # the admin's own pages
    "admin:index": "admin-view",
    "admin:app_list": "admin-view",
    "admin:password_change_done": "admin-view",
    "admin:jsi18n": "admin-view",
    "admin:autocomplete": "admin-view",
    "admin:view_on_site": "admin-view",
    "admin:password_change": "admin-self",
    # provisioning pages beyond a ModelAdmin's
    "admin:provisioning_account_challenge_image": "admin-view",
    "admin:provisioning_account_secrets": "admin-secrets",
    "admin:provisioning_account_request": "admin-write",
    "admin:provisioning_account_export": "admin-export",
    "admin:provisioning_member_export": "admin-export",
    "admin:provisioning_operation_export": "admin-export",
    "admin:provisioning_member_import": "admin-write",
    "admin:provisioning_member_process_import": "admin-write",
    "admin:provisioning_connection_quarantine": "admin-connection",
    "admin:provisioning_connection_lift_quarantine": "admin-connection",
    "admin:provisioning_connection_request": "admin-connection",
    "admin:provisioning_operation_retry": "admin-write",
    "admin:provisioning_operation_cancel": "admin-write",
    "admin:provisioning_operation_confirm": "admin-write",
    "admin:provisioning_batch_retry_failed": "admin-write",
    "admin:auth_user_password_change": "admin-superuser",
    # django-otp's device pages show a device's secret
    # a device's key and QR code: shown to nobody, a superuser neither (OTP_ADMIN_HIDE_SENSITIVE_DATA)
    "admin:otp_totp_totpdevice_config": "admin-never",
    "admin:otp_totp_totpdevice_qrcode": "admin-never",
    # the API beyond a router's list and detail
    "api:api-root": "api-read",
    "api:account-captcha": "api-read",
    "api:account-credentials": "api-secrets",
    "api:connection-check": "api-connection",
    "api:connection-quarantine": "api-connection",
    "api:connection-lift-quarantine": "api-connection",
    **{f"api:account-{action}": "api-write" for action in (
        "login-link", "provision", "captcha-refresh", "reset-password", "rotate-secret", "sync", "validate", "verify",
        "record-closed",
    )},
    "api:operation-cancel": "api-write",
    "api:operation-confirm": "api-write",
    "api:operation-retry": "api-write",
    # outgoing webhooks: whoever manages connections
    "api:webhook-deliveries": "api-connection-read",
    "api:webhook-redeliver": "api-connection",
    # providers' webhooks: anyone may knock, only a signed body is heard
    "provider-webhook": "provider-webhook",
}
GENERIC_ADMIN = {"changelist": "admin-list", "change": "admin-read", "history": "admin-view",
                 "add": "admin-write", "delete": "admin-write"}
# apps and models whose admin pages hold secrets or rights: superusers only
SUPERUSER_MODELS = {"auth", "authtoken", "django_celery_beat", "otp_totp", "otp_static", "provisioning.apitoken"}


def walk(patterns, prefix="", namespace=None):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            ns = namespace
            if pattern.namespace:
                ns = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), ns)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else (pattern.name or f"{namespace}:?")
            yield prefix + str(pattern.pattern), name


def kind_of(name: str, route: str) -> str | None:
    if name in EXPLICIT:
        return EXPLICIT[name]
    generic = re.fullmatch(r"admin:(\w+?)_([a-z]+)_(changelist|change|history|add|delete)", name)
    if generic and route.startswith(f"admin/{generic[1]}/{generic[2]}/"):
        superuser = {generic[1], f"{generic[1]}.{generic[2]}"} & SUPERUSER_MODELS
        return "admin-superuser" if superuser else GENERIC_ADMIN[generic[3]]
    if name == "admin:?" and route.endswith("<path:object_id>/"):  # Django's old change URL: a redirect
        return "admin-read"
    if name == "admin:?" and route.endswith("(?P<url>.*)$"):
        return "admin-catch-all"
    if re.fullmatch(r"api:\w+-(list|detail)", name):
        return "api-read"
    return None


def test_every_url_pattern_has_a_kind():
    unknown = [(name, route) for route, name in walk(get_resolver().url_patterns) if kind_of(name, route) is None]
    assert not unknown, f"URL patterns nobody classified (add them to EXPLICIT with their kind): {unknown}"


# --- the world the URLs are filled from -----------------------------------------------------------

@pytest.fixture
def world(db, django_user_model, settings):
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog
    from django.contrib.admin.models import ADDITION, LogEntry
    from django.contrib.contenttypes.models import ContentType
    from django_celery_beat.models import (
        ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, SolarSchedule,
    )
    from django.utils import timezone
    from django_otp.plugins.otp_static.models import StaticDevice
    from rest_framework.authtoken.models import Token

    from provisioning.models import (
        Account, Batch, Connection, ExternalCall, Member, Operation, SecretAccess, WebhookDelivery,
        WebhookEndpoint, WebhookEvent,
    )

    settings.METRICS_TOKEN = "matrix-metrics-token"
    connection = Connection.objects.create(provider="flyve", name="Flyve", base_url="http://flyve.test/apirest.php")
    member = Member.objects.create(email="jane@example.org")
    account = Account.objects.create(member=member, connection=connection, status="active", secrets={"user_secret": "S"},
                                     challenge_image=b"\xff\xd8fake-captcha\xff\xd9")
    operation = Operation.objects.create(kind="sync", status="failed", account=account, connection=connection, requested_by="t")
    ExternalCall.objects.create(operation=operation, connection=connection, method="GET", url="u", status_code=200)
    Batch.objects.create(connection=connection, requested_by="t")
    users = {}
    for role, group in (("operator", "Provisioning operators"), ("auditor", "Auditors"), ("keeper", "Secret keepers")):
        users[role] = django_user_model.objects.create_user(role, password="pw", is_staff=True)
        users[role].groups.add(Group.objects.get(name=group))
    users["superuser"] = django_user_model.objects.create_superuser("root", "root@example.org", "pw")
    SecretAccess.objects.create(account=account, user=users["keeper"], via="admin", keys=["user_secret"])
    Token.objects.create(user=users["operator"])
    interval = IntervalSchedule.objects.create(every=10, period="seconds")
    CrontabSchedule.objects.create()
    SolarSchedule.objects.create(event="sunrise", latitude=1, longitude=1)
    ClockedSchedule.objects.create(clocked_time=timezone.now())
    PeriodicTask.objects.create(name="t", task="t", interval=interval)
    AccessAttempt.objects.create(username="x", ip_address="192.0.2.1", failures_since_start=1, user_agent="", path_info="/")
    AccessLog.objects.create(username="x", ip_address="192.0.2.1", user_agent="", path_info="/")
    AccessFailureLog.objects.create(username="x", ip_address="192.0.2.1", user_agent="", path_info="/")
    StaticDevice.objects.create(user=users["superuser"], name="r")
    LogEntry.objects.create(user=users["superuser"], content_type=ContentType.objects.get_for_model(Member),
                            object_id=str(member.pk), object_repr=str(member), action_flag=ADDITION)
    endpoint = WebhookEndpoint.objects.create(owner=users["superuser"], url="https://hooks.example.org/in",
                                              events=["operation.failed"])
    event = WebhookEvent.objects.create(type="operation.failed", payload={})
    delivery = WebhookDelivery.objects.create(event=event, endpoint=endpoint)
    return {"account": account, "connection": connection, "member": member, "users": users,
            "webhook": endpoint, "delivery": delivery,
            "member_ct": ContentType.objects.get_for_model(Member).pk}


def concrete(route: str, world) -> str:
    """``route`` with its parameters filled with ids of existing objects."""
    path = route
    model_match = re.match(r"admin/(\w+)/(\w+)/", route)
    api_match = re.match(r"api/v1/\^?(\w+)/", route)

    def value(name: str) -> str:
        if name == "object_id" and route.startswith("admin/r/"):
            return str(world["member"].pk)
        if name == "content_type_id":
            return str(world["member_ct"])
        if name in ("object_id", "pk", "id") and model_match:
            model = apps.get_model(model_match[1], model_match[2])
            if model_match[1] == "provisioning" and model_match[2] == "account":
                return str(world["account"].pk)
            return str(model._default_manager.order_by("pk").values_list("pk", flat=True).first())
        if name == "pk" and api_match:
            return str({"connections": world["connection"].pk, "members": world["member"].pk,
                        "accounts": world["account"].pk, "webhooks": world["webhook"].pk}.get(api_match[1]) or
                       apps.get_model("provisioning", api_match[1][:-1] if api_match[1] != "batches" else "batch")
                       ._default_manager.order_by("pk").values_list("pk", flat=True).first())
        if name == "delivery":
            return str(world["delivery"].pk)
        return {"kind": "sync" if "admin/" in route else "flyve", "connection_id": str(world["connection"].pk),
                "app_label": "provisioning", "format": "json", "url": "no-such-page/"}[name]

    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: value(m[1]), path)  # regex groups first
    path = path.replace("<drf_format_suffix:format>", ".json")
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: value(m[1]), path)
    path = path.replace("^", "").replace("$", "").replace("\\.", ".").replace("/?", "")
    return "/" + path


def answer_class(response) -> str:
    code = response.status_code
    if 200 <= code < 300:
        return "ok"
    if code in (301, 302, 303, 307, 308):
        location = response["Location"]
        if location.startswith("/admin/login/"):
            return "login"
        if location.startswith("/admin/second-factor/"):
            return "second-factor"
        return "redirect"
    if code in (401, 403):
        return "denied"
    if code == 404:
        return "absent"
    if code == 503:
        return "unavailable"
    if code >= 500:
        return "error"
    return "refused"  # 400, 405, 409, 415, 422, 429


NOT_OK = {"login", "second-factor", "redirect", "denied", "absent", "refused"}
ANY = NOT_OK | {"ok", "unavailable"}

# kind -> role -> (GET allowed, POST allowed); anything outside is a failure
EXPECTED = {
    "public": {role: ({"ok", "unavailable", "refused"}, {"ok", "refused"}) for role in
               ("anonymous", "operator", "auditor", "keeper", "superuser")},
    "icon": {role: ({"redirect"}, {"refused"}) for role in  # to the static file, for anyone
             ("anonymous", "operator", "auditor", "keeper", "superuser")},
    "metrics": {role: ({"denied"}, {"refused", "denied"}) for role in
                ("anonymous", "operator", "auditor", "keeper", "superuser")},
    "docs": {"anonymous": ({"login", "denied"}, {"login", "denied", "refused"}),
             **{role: ({"ok"}, {"refused"}) for role in ("operator", "auditor", "keeper", "superuser")}},
    "admin-auth": {role: ({"ok", "redirect", "refused"}, {"ok", "redirect"}) for role in
                   ("anonymous", "operator", "auditor", "keeper", "superuser")},
    "admin-2fa": {"anonymous": ({"login"}, {"login"}),
                  **{role: ({"redirect", "ok"}, {"redirect", "ok"}) for role in ("operator", "auditor", "keeper", "superuser")}},
    "admin-read": {"anonymous": ({"login"}, {"login"}),
                   "operator": ({"ok", "redirect", "denied", "absent"}, ANY - {"error", "unavailable"}),
                   "auditor": ({"ok", "redirect", "denied", "absent"}, NOT_OK),
                   "keeper": ({"ok", "redirect", "denied", "absent"}, NOT_OK),
                   "superuser": ({"ok", "redirect"}, ANY - {"error", "unavailable"})},
    # a list: its POST runs a bulk action, and without one (as here) shows the list again
    "admin-list": {"anonymous": ({"login"}, {"login"}),
                   **{role: ({"ok", "denied"}, ANY - {"error", "unavailable"})
                      for role in ("operator", "auditor", "keeper", "superuser")}},
    # pages that only show (whatever the method): POST is a GET to them
    "admin-view": {"anonymous": ({"login"}, {"login"}),
                   **{role: ({"ok", "redirect", "denied", "absent", "refused"}, ANY - {"error", "unavailable"})
                      for role in ("operator", "auditor", "keeper", "superuser")}},
    "admin-self": {"anonymous": ({"login"}, {"login"}),
                   **{role: ({"ok"}, {"ok"}) for role in ("operator", "auditor", "keeper", "superuser")}},
    "admin-export": {"anonymous": ({"login"}, {"login"}),
                     **{role: ({"ok", "denied"}, {"ok", "denied"}) for role in ("operator", "auditor", "keeper")},
                     "superuser": ({"ok"}, {"ok"})},
    "admin-write": {"anonymous": ({"login"}, {"login"}),
                    "operator": (ANY - {"error", "unavailable"}, ANY - {"error", "unavailable"}),
                    "auditor": (NOT_OK, NOT_OK),
                    "keeper": (NOT_OK, NOT_OK),
                    # denied: records nobody adds or deletes in the admin (operations, calls, the audit)
                    "superuser": ({"ok", "redirect", "absent", "refused", "denied"}, ANY - {"error", "unavailable"})},
    "admin-connection": {"anonymous": ({"login"}, {"login"}),
                         **{role: (NOT_OK, NOT_OK) for role in ("operator", "auditor", "keeper")},
                         "superuser": ({"ok", "redirect", "refused"}, ANY - {"error", "unavailable"})},
    "admin-secrets": {"anonymous": ({"login"}, {"login"}),
                      **{role: ({"denied"}, {"denied"}) for role in ("operator", "auditor")},
                      **{role: ({"ok"}, {"ok"}) for role in ("keeper", "superuser")}},
    "admin-superuser": {"anonymous": ({"login"}, {"login"}),
                        **{role: (NOT_OK - {"ok"}, NOT_OK - {"ok"}) for role in ("operator", "auditor", "keeper")},
                        "superuser": ({"ok", "redirect"}, ANY - {"error", "unavailable"})},
    "admin-never": {"anonymous": ({"login"}, {"login"}),
                    **{role: ({"denied"}, {"denied"}) for role in ("operator", "auditor", "keeper", "superuser")}},
    "admin-catch-all": {"anonymous": ({"login", "absent"}, {"login", "absent"}),
                        **{role: ({"absent", "redirect"}, {"absent", "redirect"}) for role in ("operator", "auditor", "keeper", "superuser")}},
    "api-read": {"anonymous": ({"denied"}, {"denied"}),
                 "operator": ({"ok", "denied", "absent"}, ANY - {"error", "unavailable"}),
                 "auditor": ({"ok", "denied", "absent"}, NOT_OK),
                 "keeper": ({"ok", "denied", "absent"}, NOT_OK),
                 "superuser": ({"ok", "absent"}, ANY - {"error", "unavailable"})},
    "api-write": {"anonymous": ({"denied"}, {"denied"}),
                  "operator": ({"refused", "denied"}, ANY - {"error", "unavailable"}),
                  "auditor": ({"refused", "denied"}, {"denied"}),
                  "keeper": ({"refused", "denied"}, {"denied"}),
                  "superuser": ({"refused"}, ANY - {"error", "unavailable", "denied"})},
    "api-connection": {"anonymous": ({"denied"}, {"denied"}),
                       **{role: ({"refused", "denied"}, {"denied"}) for role in ("operator", "auditor", "keeper")},
                       "superuser": ({"refused"}, ANY - {"error", "unavailable", "denied"})},
    "api-connection-read": {"anonymous": ({"denied"}, {"denied"}),
                            **{role: ({"denied"}, {"denied"}) for role in ("operator", "auditor", "keeper")},
                            "superuser": ({"ok"}, {"refused"})},
    "provider-webhook": {role: ({"refused"}, {"denied", "refused", "absent"}) for role in
                         ("anonymous", "operator", "auditor", "keeper", "superuser")},
    "api-secrets": {"anonymous": ({"denied"}, {"denied"}),
                    **{role: ({"denied"}, {"denied", "refused"}) for role in ("operator", "auditor")},
                    **{role: ({"ok"}, {"refused", "denied"}) for role in ("keeper", "superuser")}},
}


@pytest.mark.parametrize("role", ["anonymous", "auditor", "operator", "keeper", "superuser"])
def test_every_url_answers_each_role_as_expected(client, world, role):
    def sign_in():
        if role != "anonymous":
            user = world["users"][role]
            client.force_login(user)
            pass_second_factor(client, user)

    wrong = []
    seen = defaultdict(int)
    sign_in()
    for route, name in walk(get_resolver().url_patterns):
        kind = kind_of(name, route)
        url = concrete(route, world)
        resolve(url.split("?")[0])  # the URL made from the pattern is one the project serves
        get_allowed, post_allowed = EXPECTED[kind][role]
        for method, allowed in (("get", get_allowed), ("post", post_allowed)):
            response = getattr(client, method)(url)
            got = answer_class(response)
            seen[kind] += 1
            if got not in allowed:
                wrong.append(f"{method.upper()} {url} ({name}, {kind}): {response.status_code} {got}, expected {sorted(allowed)}")
            if kind == "admin-auth":  # signing out (or in) changed the session: back to the role
                client.logout()
                sign_in()
    assert not wrong, f"{role}: {len(wrong)} unexpected answers:\n" + "\n".join(wrong)
    assert set(seen) >= {"admin-read", "admin-write", "api-read", "api-write", "admin-secrets", "api-secrets"}
