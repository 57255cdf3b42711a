"""Settings for the test suite: the production module, with test defaults in the environment.

Values are put into ``os.environ`` (not only into this module) so that the worker and sandbox
processes that integration tests start inherit exactly the same configuration.
"""

import os

from cryptography.fernet import Fernet

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-used-anywhere-else-0123456789")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", Fernet.generate_key().decode())
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("OPERATION_BACKOFF_BASE_SECONDS", "0.2")
os.environ.setdefault("OPERATION_BACKOFF_MAX_SECONDS", "3")
os.environ.setdefault("PROVIDER_READ_TIMEOUT_SECONDS", "2")
os.environ.setdefault("INSTALLATION_ID", "test")
os.environ.setdefault("CELERY_POLLING_INTERVAL", "0.1")

from .settings import *  # noqa: E402,F403
from .settings import STORAGES  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}

# whitenoise warns on every request when STATIC_ROOT does not exist; tests never collect
STATIC_ROOT = VAR_DIR / "test-static"  # noqa: F405
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
