"""What a process loads when it starts. A worker serves no page: it imports neither the admin
(import-export, openpyxl... behind it) nor the URLconf, about 24 MB less per worker process; it
imports the providers before its first task (not its first tasks all at once). The admin is loaded
with the URLs, and Django's checks of the ModelAdmins still run where checks run. Both kinds of
process then freeze what they loaded (``portal.long_lived``)."""

import json
import os
import subprocess
import sys

from devtools.processes import REPO

PROBE = """
import json, sys
from portal.celery import app
app.loader.import_default_modules()
app.loader.init_worker()  # what `celery worker` does before its first task: django.setup(), the fixups
after_setup = {name: name in sys.modules for name in ("provisioning.admin", "import_export.admin", "openpyxl",
                                                      "portal.urls")}
from celery import signals
signals.worker_init.send(sender=None)  # then, before its first task, it imports the providers
after_init = {name: name in sys.modules for name in ("provisioning.providers.scim", "provisioning.admin")}
import gc
frozen = gc.get_freeze_count()
from django.core import checks
from django.contrib import admin
checked = [m.id for m in checks.run_checks(tags=[checks.Tags.admin])]
registered = sorted(model.__name__ for model in admin.site._registry if model._meta.app_label == "provisioning")
print(json.dumps({"after_setup": after_setup, "after_init": after_init, "frozen": frozen, "checked": checked,
                  "registered": registered}))
"""


def probe(code: str = PROBE) -> dict:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.test_settings", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_worker_starts_without_the_admin_and_the_admin_checks_still_see_every_model_admin():
    seen = probe()

    assert seen["after_setup"] == {"provisioning.admin": False, "import_export.admin": False, "openpyxl": False,
                                   "portal.urls": False}
    assert seen["after_init"] == {"provisioning.providers.scim": True, "provisioning.admin": False}
    assert seen["frozen"] > 10_000  # what it loaded is out of the garbage collector's full passes
    assert seen["checked"] == []
    assert {"Account", "Connection", "Member", "Operation"} <= set(seen["registered"])


def test_the_urls_bring_the_admin():
    from django.contrib import admin
    from django.urls import reverse

    from provisioning.models import Account

    assert reverse("admin:provisioning_account_changelist") == "/admin/provisioning/account/"
    assert admin.site.is_registered(Account)


def test_a_web_process_loads_the_urls_and_the_admin_then_freezes_them():
    seen = probe("""
import gc, json, sys
import portal.wsgi
print(json.dumps({"urls": "portal.urls" in sys.modules, "admin": "provisioning.admin" in sys.modules,
                  "frozen": gc.get_freeze_count()}))
""")

    assert seen["urls"] and seen["admin"]
    assert seen["frozen"] > 50_000  # the app's ~200,000 objects: a full pass over them took 100-140 ms
