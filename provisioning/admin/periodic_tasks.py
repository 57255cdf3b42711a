"""django-celery-beat's periodic task page, in words a staff member can act on.

The library's labels and help texts say "Start Datetime", "Set to False to disable the
schedule" and "leave the others null"; the fields and their rules stay the library's. Its page's
inline script is replaced by a script file (``templates/admin/djcelery/change_periodictask_form.html``).
"""

from django.contrib import admin
from django_celery_beat.admin import PeriodicTaskAdmin as LibraryPeriodicTaskAdmin
from django_celery_beat.admin import PeriodicTaskForm as LibraryPeriodicTaskForm
from django_celery_beat.models import PeriodicTask

_ONE_SCHEDULE = "Choose one schedule: an interval, a crontab, a solar event or a clocked time, and leave the others empty."

LABELS = {"start_time": "Starts at", "expires": "Ends at", "expire_seconds": "Skip a late run after (seconds)"}
HELP_TEXTS = {
    "name": "A name to know this schedule by.",
    "regtask": "The job this schedule runs.",
    "task": "Only for a job missing from the list above: its full name.",
    "enabled": "Untick to pause this schedule; nothing runs until it is ticked again.",
    "description": "What this schedule is for, for the next person who reads it.",
    "interval": f"Run every so often. {_ONE_SCHEDULE}",
    "crontab": f"Run at set times. {_ONE_SCHEDULE}",
    "solar": f"Run at a sunrise or sunset. {_ONE_SCHEDULE}",
    "clocked": f"Run once, at a date and time. {_ONE_SCHEDULE}",
    "start_time": "Nothing runs before this moment (empty: from now).",
    "one_off": "Run once only, then the schedule pauses itself.",
    "expires": "Nothing runs after this moment (empty: no end).",
    "expire_seconds": "A run that has not started this many seconds after its time is skipped (empty: never).",
}


class PeriodicTaskForm(LibraryPeriodicTaskForm):
    """The library's form, its fields worded on each form's own copies (the library declares two
    of them on its form class, which every request shares)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            field.label = LABELS.get(name, field.label)
            field.help_text = HELP_TEXTS.get(name, field.help_text)


class PeriodicTaskAdmin(LibraryPeriodicTaskAdmin):
    form = PeriodicTaskForm
    # the library's read-only "Last Run Datetime", whose help says "Reset to None if enabled is set to False"
    fieldsets = tuple(
        (title, {**options, "fields": tuple("last_run" if f == "last_run_at" else f for f in options["fields"])})
        for title, options in LibraryPeriodicTaskAdmin.fieldsets
    )
    readonly_fields = ("last_run", "crontab_translation")
    # the list: what each does (the portal's own say it: settings.CELERY_BEAT_SCHEDULE), "when"
    # once (the library's "Scheduler" and "Interval Schedule" said it twice), no "Start Datetime",
    # "Last Run Datetime" or one-off columns, which a page's own fields say
    list_display = ("name", "what_it_does", "enabled", "scheduler", "last_run")
    list_filter = ("enabled",)  # a handful of rows: filters by task name (dotted, a line each) or one-off said nothing

    @admin.display(description="what it does")
    def what_it_does(self, obj):
        return obj.description or "—"

    @admin.display(description="last run", ordering="last_run_at")
    def last_run(self, obj):
        return obj.last_run_at or "Not yet"


admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, PeriodicTaskAdmin)
