"""Django's user and group pages, with what each of the portal's roles allows; DRF's API tokens.

The roles are groups that migrations make (``0007_roles``; ``0009`` adds the Auditors' view of the
admin's history). A person giving someone a role reads here what it lets them do: on the user's
page, under "Groups", and in the list of groups. A group staff made themselves has no words: its
permissions say what it allows.

A DRF token's name is its key, and Django prints an object's name in its pages' titles and
breadcrumbs, in its messages and in the admin's history, which Auditors read. The admin shows
tokens as ``ApiToken``, named by their owner; its key is shown once, when the token is made, and
never again: the database keeps its digest only (``api/tokens.py``). Migration ``0023`` rewrote
the history entries that named a token by its key.
"""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.utils.html import format_html, format_html_join
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

from ..models import ApiToken

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


class ApiTokenAdmin(TokenAdmin):
    """DRF's token pages (a superuser's) for ``ApiToken``."""

    list_display = ("user", "created")  # one token a user; the key is not kept

    def get_readonly_fields(self, request, obj=None):
        # a made token stays its owner's: choosing another user here handed them the same key
        return ("user",) if obj is not None else ()

    def response_add(self, request, obj, post_url_continue=None):
        messages.warning(request, format_html(
            "Key of the API token of {}, shown this once only: <code>{}</code>. Give it to the API consumer "
            "(header <code>Authorization: Token …</code>); a lost key is replaced by deleting the token and "
            "making another.", obj.user, obj.plain_key))
        return super().response_add(request, obj, post_url_continue)


admin.site.unregister(TokenProxy)
admin.site.register(ApiToken, ApiTokenAdmin)
for model, model_admin in ((get_user_model(), PortalUserAdmin), (Group, PortalGroupAdmin)):
    admin.site.unregister(model)
    admin.site.register(model, model_admin)
