"""Fixtures of the provider tests. ``member``, ``account`` and ``http`` are in tests/conftest.py;
each module defines its provider's ``connection``."""

import pytest

from provisioning.providers.http import NullCallLog
from tests.providers.flyve_support import FakeGlpi


class RecordingCallLog(NullCallLog):
    """A call log that keeps what a client records (``calls``) and saves (``states``)."""

    def __init__(self):
        self.calls, self.states = [], []

    def record(self, call):
        self.calls.append(call)

    def save_secret_state(self, state):
        self.states.append(dict(state))


@pytest.fixture
def log():
    """What a client under test records, for clients built without the database."""
    return RecordingCallLog()


@pytest.fixture
def strict_http(http):
    """The fake HTTP of tests/conftest.py, where every answer registered must also be asked for."""
    http.assert_all_requests_are_fired = True
    return http


@pytest.fixture
def glpi(http):
    """GLPI with the Flyve demo plugin, faked on ``http`` (tests/providers/flyve_support.py)."""
    return FakeGlpi(http)
