"""Django's user and group pages, with what each of the portal's roles allows; DRF's API tokens.

The roles are groups that migrations make (``0007_roles``; ``0009`` adds the Auditors' view of the
admin's history). A person giving someone a role reads here what it lets them do: on the user's
page, under "Groups", and in the list of groups. A group staff made themselves has no words: its
permissions say what it allows.

A DRF token's name is its key, and Django's admin history records an object by its name: every
token made, changed or deleted in the admin wrote its key in the history, which Auditors read.
Those entries name the token's owner instead (``token_words``); migration ``0023`` rewrote the
entries made before.
"""

from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.utils.html import format_html, format_html_join
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

# the words of each role made by the migrations, by its group's name
ROLE_WORDS = {
    "Provisioning operators": (
        "run operations: they see members, connections, accounts, operations, batches and HTTP "
        "exchanges, add and change members, provision and deprovision. No secrets, no connection settings."
    ),
    "Auditors": (
        "read everything but the secrets: who read which secret, the admin's history of changes and the "
        "sign-ins included. They run nothing."
    ),
    "Secret keepers": "may read accounts' secrets; every read is recorded.",
}


class PortalUserAdmin(UserAdmin):
    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if db_field.name == "groups":
            roles = format_html_join("", "<li><strong>{}</strong> {}</li>", ROLE_WORDS.items())
            field.help_text = format_html("{} The portal's roles:<ul>{}</ul>", field.help_text, roles)
        return field


class PortalGroupAdmin(GroupAdmin):
    list_display = ("name", "allows")

    @admin.display(description="what it allows")
    def allows(self, obj):
        return ROLE_WORDS.get(obj.name, "What its permissions allow (a group made here).")


def token_words(token) -> str:
    """What the admin's history records of an API token: whose it is, never its key."""
    return f"API token of {token.user}"


class PortalTokenAdmin(TokenAdmin):
    """DRF's token pages (a superuser's), whose history entries name the owner, not the key."""

    def log_addition(self, request, obj, message):
        return self._worded(super().log_addition(request, obj, message), [obj])

    def log_change(self, request, obj, message):
        return self._worded(super().log_change(request, obj, message), [obj])

    def log_deletions(self, request, queryset):
        tokens = list(queryset)
        return self._worded(super().log_deletions(request, tokens), tokens)

    @staticmethod
    def _worded(logged, tokens):
        """``logged`` (Django's entry, or entries) naming ``tokens`` by their owner, not their key.
        A token's admin pages, and so its entries, are keyed by its owner's id (``TokenProxy.pk``)."""
        entries = logged if isinstance(logged, list) else [logged]
        owners = {str(token.pk): token_words(token) for token in tokens}
        for entry in entries:
            entry.object_repr = owners.get(str(entry.object_id), "API token")
        LogEntry.objects.bulk_update(entries, ["object_repr"])
        return logged


for model, model_admin in ((get_user_model(), PortalUserAdmin), (Group, PortalGroupAdmin), (TokenProxy, PortalTokenAdmin)):
    admin.site.unregister(model)
    admin.site.register(model, model_admin)
