"""The admin site: its home page is the day's work.

``/admin/`` shows the accounts that need a person (each with the one button that moves it on),
a card per connection (health, quarantine, quota, operations in flight, failures of the last
24 h by reason, a person's refused answers apart), and a chart of the provisionings done and
failed per day over 30 days (server-rendered SVG). Its figures come from a handful of indexed
queries (``selectors.overview_figures``) and are cached for ``OVERVIEW_CACHE_SECONDS``: plain
values only, never a model instance (credentials and secrets stay out of the cache).

Installed as the default admin site by ``provisioning.apps.PortalAdminConfig``, so
``admin.site`` and ``@admin.register`` keep working. It lives outside ``provisioning.admin``:
importing that package registers the ModelAdmins, which needs this site to exist already.
"""

from __future__ import annotations

from functools import update_wrapper

from django.contrib import admin
from django.core.cache import cache
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import urlencode

# versioned with the shape of what is cached: a new release does not read the last one's
OVERVIEW_CACHE_KEY = "provisioning:admin-overview:3"
OVERVIEW_CACHE_SECONDS = 20
CHART_DAYS = 30
QUEUE_SIZE = 20

# the order of the provisioning models on the home page and in the side bar: the day's work first
MODEL_ORDER = ["Member", "Connection", "Account", "Operation", "Batch", "ExternalCall", "SecretAccess"]


class PortalAdminSite(admin.AdminSite):
    site_header = "Provisioning portal"
    site_title = "Provisioning portal"
    index_title = "Today"
    site_url = "/admin/"  # "View site" leads to the overview
    index_template = "admin/provisioning/overview.html"
    # the models are listed on the home page; without the side bar a list has the whole width
    # of a 1280 px screen (beside its filters) and needs no horizontal scrolling
    enable_nav_sidebar = False
    # an empty field reads as the portal's own displays write it, not as Django's hyphen
    empty_value_display = "—"

    def admin_view(self, view, cacheable=False):
        """Django's guard, and before it the second factor (``provisioning.second_factor``): a
        signed-in user who owes a code is asked for it, one who needs a device and has none is
        sent to enrolment, whatever admin page they asked for, except signing out (the code and
        enrolment pages offer it: someone without their phone must be able to leave)."""
        from .second_factor import pending_step

        inner = super().admin_view(view, cacheable)
        if view == self.logout:
            return inner

        def guarded(request, *args, **kwargs):
            step = pending_step(request)
            if step is not None and request.user.is_active and request.user.is_staff:
                target = "admin:second_factor" if step == "verify" else "admin:second_factor_enrol"
                return redirect(reverse(target, current_app=self.name) + "?" + urlencode({"next": request.get_full_path()}))
            return inner(request, *args, **kwargs)

        return update_wrapper(guarded, view)

    def get_urls(self):
        from . import second_factor

        def signed_in(view):  # not admin_view: these pages are where it sends people
            def wrapper(request, *args, **kwargs):
                return view(self, request, *args, **kwargs)

            return update_wrapper(wrapper, view)

        return [
            path("second-factor/", signed_in(second_factor.verify_view), name="second_factor"),
            path("second-factor/enrol/", signed_in(second_factor.enrol_view), name="second_factor_enrol"),
            *super().get_urls(),
        ]

    def get_app_list(self, request, app_label=None):
        """The provisioning app first (its models in the order staff work), the system ones after."""
        apps = super().get_app_list(request, app_label)
        for app in apps:
            if app["app_label"] == "provisioning":
                app["models"].sort(
                    key=lambda m: MODEL_ORDER.index(m["object_name"]) if m["object_name"] in MODEL_ORDER else 99
                )
        return sorted(apps, key=lambda app: app["app_label"] != "provisioning")

    def index(self, request, extra_context=None):
        from .models import Account

        app_list = self.get_app_list(request)
        may_see = self.is_registered(Account) and self._registry[Account].has_view_permission(request)
        context = {
            **self.each_context(request),
            "title": self.index_title,
            "subtitle": None,
            "provisioning_apps": [app for app in app_list if app["app_label"] == "provisioning"],
            "system_apps": [app for app in app_list if app["app_label"] != "provisioning"],
            "app_list": app_list,
            **(extra_context or {}),
        }
        if may_see:
            figures = overview_cached()
            context.update(
                overview=figures,
                queue=[with_next_step(row, request.user) for row in figures["queue"]],
                queue_url=changelist_needing_a_person(),
                chart=chart(figures["days"]),
            )
        request.current_app = self.name
        return TemplateResponse(request, self.index_template, context)


def changelist_needing_a_person() -> str:
    return reverse("admin:provisioning_account_changelist") + "?" + urlencode({"needs_person": "yes"})


def overview_cached() -> dict:
    figures = cache.get(OVERVIEW_CACHE_KEY)
    if figures is None:
        figures = overview_values()
        cache.set(OVERVIEW_CACHE_KEY, figures, OVERVIEW_CACHE_SECONDS)
    return figures


def overview_values() -> dict:
    """``selectors.overview_figures`` as plain values, ready for a cache and a template."""
    from . import explain, selectors
    from .followups import answer_refused
    from .states import UNFINISHED_OPERATION_STATUSES

    figures = selectors.overview_figures(days=CHART_DAYS, queue_size=QUEUE_SIZE)
    queue = [
        {
            "id": account.pk,
            "name": f"{account.member.first_name} {account.member.last_name}".strip() or account.member.email,
            "email": account.member.email,
            "connection": str(account.connection),
            "provider": account.connection.provider,
            "connection_id": account.connection_id,
            "member_id": account.member_id,
            "status": account.status,
            "error_code": account.last_error.get("code", "") if isinstance(account.last_error, dict) else "",
            "badge": explain.account_badge(account),
            "sentence": explain.account_person_sentence(account),
            "updated_at": account.updated_at,
        }
        for account in figures["queue"]
    ]
    cards = []
    for card in figures["cards"]:
        connection = card["connection"]
        used, more = card["quota_used"]
        cards.append(
            {
                "id": connection.pk,
                "name": connection.name,
                # beside the name unless the name says it already ("Kandy sandbox")
                "provider": connection.provider_beside_name,
                "state": connection.state,
                "health": explain.health_badge(connection),
                "health_detail": connection.health_detail,
                "health_checked_at": connection.health_checked_at,
                "quarantine": selectors.connection_quarantine_sentence(connection),
                "quota": f"{used}{'+' if more else ''} / {connection.max_accounts if connection.max_accounts is not None else 'no limit'}",
                "quota_percent": min(100, round(100 * used / connection.max_accounts)) if connection.max_accounts else None,
                "in_flight": [
                    (str(status), explain.OPERATION_STATUS_WORDS[status][0], card["in_flight"][status])
                    for status in UNFINISHED_OPERATION_STATUSES
                    if card["in_flight"].get(status)
                ],
                # a person's answer refused (a wrong captcha answer...) is not the provider failing
                "failures": [
                    (n, kind, code, explain.failure_sentence(kind, code, provider=connection.name))
                    for (kind, code), n in card["failures"] if not answer_refused(kind, code)
                ],
                "refused": [
                    (n, kind, code, explain.failure_sentence(kind, code, provider=connection.name))
                    for (kind, code), n in card["failures"] if answer_refused(kind, code)
                ],
            }
        )
    count, more = figures["queue_count"]
    return {
        "at": figures["at"],
        "queue": queue,
        "queue_count": f"{count}+" if more else str(count),
        "cards": cards,
        "days": figures["days"],
    }


# a failed account whose provisioning would fail again until something else is fixed (the error
# sentence's next step): error code -> (button, admin URL of what to fix, the row's id of it, permission)
FIX_FIRST = {
    "configuration": ("Fix the connection", "admin:provisioning_connection_change", "connection_id",
                      "provisioning.manage_connection"),
    "member_incomplete": ("Complete the member", "admin:provisioning_member_change", "member_id",
                          "provisioning.change_member"),
}


def with_next_step(row: dict, user) -> dict:
    """The queue row with the one button that moves it on, as far as ``user`` may press it."""
    from .providers import registry
    from .states import OPERATION_SPECS, AccountStatus, OperationKind

    steps = {
        AccountStatus.AWAITING_CAPTCHA: (OperationKind.ANSWER_CAPTCHA, "Answer the captcha"),
        AccountStatus.AWAITING_VERIFICATION: (OperationKind.VERIFY, "Enter the SMS code"),
        AccountStatus.AWAITING_VALIDATION: (OperationKind.VALIDATE, "Paste the validation link"),
        AccountStatus.FAILED: (OperationKind.PROVISION, "Retry provisioning"),
    }
    account_url = reverse("admin:provisioning_account_change", args=[row["id"]])
    button = ("Open the account", account_url)
    step = steps.get(row["status"])
    fix = FIX_FIRST.get(row.get("error_code", "")) if row["status"] == AccountStatus.FAILED else None
    if fix is not None:  # a retry would fail the same way: the button leads to what to fix, or to the account
        label, url_name, object_key, permission = fix
        if user.has_perm(permission):
            button = (label, reverse(url_name, args=[row[object_key]]))
    elif step is not None:
        kind, label = step
        provider = registry.all_providers().get(row["provider"])
        if provider is not None and provider.supports(kind) and user.has_perm(OPERATION_SPECS[kind].permission):
            button = (label, reverse("admin:provisioning_account_request", args=[row["id"], kind]))
    return {**row, "account_url": account_url, "button": button}


# --- the chart ------------------------------------------------------------------------------------
CHART_WIDTH, CHART_HEIGHT = 720, 180
CHART_LEFT, CHART_BOTTOM, CHART_TOP = 36, 22, 10


def chart(days: list[tuple]) -> dict:
    """Bars of a server-rendered SVG: per day, provisionings done (bottom) and failed (stacked on top).

    Plain numbers for the template (``overview.html`` draws the ``<rect>``); no script, no library.
    """
    top = max([ok + failed for _, ok, failed in days] + [1])
    scale_max = _nice(top)
    plot_height = CHART_HEIGHT - CHART_BOTTOM - CHART_TOP
    step = (CHART_WIDTH - CHART_LEFT) / max(len(days), 1)
    bar = max(step - 4, 2)
    bars = []
    for i, (day, ok, failed) in enumerate(days):
        x = CHART_LEFT + i * step + (step - bar) / 2
        ok_h = plot_height * ok / scale_max
        failed_h = plot_height * failed / scale_max
        base = CHART_HEIGHT - CHART_BOTTOM
        bars.append(
            {
                "x": round(x, 1),
                "width": round(bar, 1),
                "ok_y": round(base - ok_h, 1),
                "ok_h": round(ok_h, 1),
                "failed_y": round(base - ok_h - failed_h, 1),
                "failed_h": round(failed_h, 1),
                "title": f"{day:%a %d %b}: {ok} done, {failed} failed",
                "label": f"{day:%d}" if i % 5 == 0 or i == len(days) - 1 else "",
                "label_x": round(x + bar / 2, 1),
            }
        )
    ticks = [
        {"y": round(CHART_HEIGHT - CHART_BOTTOM - plot_height * value / scale_max, 1), "value": value}
        for value in (0, scale_max // 2, scale_max)
    ]
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": CHART_LEFT,
        "axis_y": CHART_HEIGHT - CHART_BOTTOM,
        "label_y": CHART_HEIGHT - 6,
        "bars": bars,
        "ticks": ticks,
        "total_ok": sum(ok for _, ok, _ in days),
        "total_failed": sum(failed for _, _, failed in days),
        "first": days[0][0] if days else None,
        "last": days[-1][0] if days else None,
    }


def _nice(value: int) -> int:
    """The smallest of 2, 4, 10, 20, 40, 100... at least ``value`` (an even top for the scale)."""
    nice = 2
    while nice < value:
        for factor in (2, 2.5, 2):
            nice = int(nice * factor)
            if nice >= value:
                break
    return nice
