"""The Celery application. Configuration comes from Django settings (``CELERY_*``)."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_init

from portal import broker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
# Celery's Django fixup runs every system check when a worker starts, and drops what they find;
# the URL checks load the URLconf, so the admin and the API (about 24 MB a process) for pages a
# worker never serves. `manage.py migrate` (the release step) and `runserver` run the checks.
os.environ.setdefault("CELERY_SKIP_CHECKS", "1")

broker.serve_broker_urls()  # the portal's transports for the make run folder and for Redis (portal.broker)
app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def database_connections_recycle(sender=None, **kwargs) -> None:
    """Around each task, as around each web request: a connection that is broken or older than
    ``CONN_MAX_AGE`` is closed, any other is kept for the thread's next task (Celery's own
    closing is turned off by ``CELERY_DB_REUSE_MAX``). Eager tasks run inside their caller's
    transaction: left alone."""
    from django.db import close_old_connections

    if sender is not None and getattr(sender.request, "is_eager", False):
        return
    close_old_connections()


@worker_init.connect
def worker_loaded(**kwargs) -> None:
    """The providers (and the libraries behind them: requests, scim2, pydantic...) are imported
    before the worker takes its first task, not by its first tasks all at once, under the import
    lock, while their lease runs; then what is loaded is left out of the garbage collector's
    full passes (``portal.long_lived``)."""
    from portal.long_lived import worker_process_loaded

    worker_process_loaded()
