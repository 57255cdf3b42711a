"""The Django admin: the staff's primary interface.

Like the API, it is thin: it validates what staff type and asks ``services`` for every change
of state (requesting operations, creating accounts, reading secrets, deleting). Credentials are
write-only; secrets are shown only through an audited, permission-guarded page.
"""

from . import accounts, audit, connections, members, operations  # noqa: F401  (register the ModelAdmins)
from . import webhooks  # noqa: F401,E402  (after connections: it extends the connection page)
from . import periodic_tasks  # noqa: F401,E402  (django-celery-beat's page, in words staff can act on)
from . import users  # noqa: F401,E402  (Django's user and group pages, with the portal's roles in words)

# titles, the home page (the day's work) and "View site": provisioning.admin_site.PortalAdminSite
