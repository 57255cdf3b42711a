"""Every environment variable the code reads is documented in .env.example and the README."""

import re
from pathlib import Path

import pytest

from provisioning.sandbox.app import simulator_classes

ROOT = Path(__file__).resolve().parents[2]


def variables_read_by_settings() -> set[str]:
    source = (ROOT / "portal" / "settings.py").read_text()
    return set(re.findall(r'\benv(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]*)"', source))


def variables_read_elsewhere() -> set[str]:
    sandbox = {variable for simulator in simulator_classes() for variable, _ in simulator.demo_credentials.values()}
    procfile = set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", (ROOT / "Procfile").read_text()))
    code = set()
    for path in (ROOT / "provisioning").rglob("*.py"):
        code |= set(re.findall(r'os\.environ(?:\.get)?[\[(]\s*"([A-Z][A-Z0-9_]*)"', path.read_text()))
    return sandbox | procfile | code


def test_settings_read_variables():
    assert {"SECRET_KEY", "DATABASE_URL", "FIELD_ENCRYPTION_KEYS"} <= variables_read_by_settings()


@pytest.mark.parametrize("document", [".env.example", "README.md"])
def test_every_variable_is_documented(document):
    text = (ROOT / document).read_text()
    if document == ".env.example":
        documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", text, re.MULTILINE))
    else:
        documented = set(re.findall(r"`([A-Z][A-Z0-9_]*)`", text))
    missing = (variables_read_by_settings() | variables_read_elsewhere()) - documented
    assert not missing, f"{document} does not document {sorted(missing)}"
