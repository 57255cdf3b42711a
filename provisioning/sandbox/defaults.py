"""The sandbox's address and demo credentials (each simulator declares its own, overridable from
the environment: ``Simulator.demo_credentials``).

The simulators accept these, and the portal's bootstrap command reads them to configure its sandbox
connections::

    from provisioning.sandbox.defaults import sandbox_credentials, sandbox_url
    sandbox_credentials()["snaptrade"]  # {"client_id": "PORTAL-SANDBOX", "consumer_key": "sandbox-consumer-key"}
"""

from __future__ import annotations

import os

DEFAULT_SANDBOX_URL = "http://127.0.0.1:8001"

def sandbox_url() -> str:
    """Base URL of the running sandbox (``SANDBOX_URL``), without a trailing slash."""
    return os.environ.get("SANDBOX_URL", DEFAULT_SANDBOX_URL).rstrip("/")


def sandbox_credentials() -> dict[str, dict[str, str]]:
    """``{simulator name: {credential: value}}`` of the mounted simulators (their
    ``demo_credentials``), read from the environment now."""
    from .app import simulator_classes

    return {simulator.name: simulator.credentials() for simulator in simulator_classes()}
