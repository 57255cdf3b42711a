import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
application = get_wsgi_application()

from portal.long_lived import web_process_loaded  # noqa: E402  (once Django is set up)

web_process_loaded()
