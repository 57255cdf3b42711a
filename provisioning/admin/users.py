"""Django's user and group pages, with what each of the portal's roles allows.

The roles are groups that migrations make (``0007_roles``; ``0009`` adds the Auditors' view of the
admin's history). A person giving someone a role reads here what it lets them do: on the user's
page, under "Groups", and in the list of groups. A group staff made themselves has no words: its
permissions say what it allows.
"""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.utils.html import format_html, format_html_join

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


for model, model_admin in ((get_user_model(), PortalUserAdmin), (Group, PortalGroupAdmin)):
    admin.site.unregister(model)
    admin.site.register(model, model_admin)
