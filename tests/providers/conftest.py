"""Fixtures of the provider tests. ``member``, ``account`` and ``http`` are in tests/conftest.py;
each module defines its provider's ``connection``."""

import pytest

from tests.providers.flyve_support import FakeGlpi


@pytest.fixture
def glpi(http):
    """GLPI with the Flyve demo plugin, faked on ``http`` (tests/providers/flyve_support.py)."""
    return FakeGlpi(http)
