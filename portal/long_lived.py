"""What a long-lived process (a web or a worker process) loads once, kept out of the garbage
collector's way.

Python's cyclic garbage collector now and then makes a full pass over every object it tracks.
After start-up that is about 200,000 objects (modules, classes, the URLconf, the admin, templates)
that live as long as the process; a full pass over them took 100–140 ms, in the middle of
whatever request or operation triggered it: the slowest admin page of twenty at a million
accounts was one of those. ``gc.freeze()`` moves what is loaded so far into a generation the
collector no longer scans; everything made later is collected as before.
"""

import gc


def web_process_loaded() -> None:
    """The web process: the URLconf (with it the admin and the API) loaded now, then frozen."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018  (loading it is the point)
    gc.freeze()


def worker_process_loaded() -> None:
    """A worker: the providers (requests, scim2, pydantic...) loaded now, then frozen. A worker
    has no URLconf to load (see ``portal.celery``)."""
    from provisioning.providers import registry

    registry.all_providers()
    gc.freeze()
