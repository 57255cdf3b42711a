"""The sandbox's demo credentials: fixed, non-secret defaults, overridable from the environment.

The simulators accept these, and the portal's bootstrap command reads them to configure its sandbox
connections::

    from provisioning.sandbox.defaults import sandbox_credentials, sandbox_url
    sandbox_credentials()["snaptrade"]  # {"client_id": "PORTAL-SANDBOX", "consumer_key": "sandbox-consumer-key"}
"""

from __future__ import annotations

import os

DEFAULT_SANDBOX_URL = "http://127.0.0.1:8001"

# simulator name -> {credential name: (environment variable, demo default)}
CREDENTIALS = {
    "snaptrade": {
        "client_id": ("SANDBOX_SNAPTRADE_CLIENT_ID", "PORTAL-SANDBOX"),
        "consumer_key": ("SANDBOX_SNAPTRADE_CONSUMER_KEY", "sandbox-consumer-key"),
    },
    "kandy": {
        "api_key": ("SANDBOX_KANDY_API_KEY", "DAK-portal-sandbox"),
        "api_secret": ("SANDBOX_KANDY_API_SECRET", "DAS-portal-sandbox"),
    },
    "xhoppe": {},  # registration needs no credentials
    "flyve": {"user_token": ("SANDBOX_FLYVE_USER_TOKEN", "sandbox-flyve-service-user-token")},
    "scim": {"bearer_token": ("SANDBOX_SCIM_BEARER_TOKEN", "sandbox-scim-token")},
}


def sandbox_url() -> str:
    """Base URL of the running sandbox (``SANDBOX_URL``), without a trailing slash."""
    return os.environ.get("SANDBOX_URL", DEFAULT_SANDBOX_URL).rstrip("/")


def sandbox_credentials() -> dict[str, dict[str, str]]:
    """``{simulator name: {credential: value}}``, read from the environment now."""
    return {
        simulator: {name: os.environ.get(variable) or default for name, (variable, default) in fields.items()}
        for simulator, fields in CREDENTIALS.items()
    }
