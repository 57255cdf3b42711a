"""``requirements.txt`` alone (what production and ``make run`` install) brings every distribution
that the broker transports import at load, outside a ``try``. kombu's Redis transport imports
``packaging``, which kombu does not declare: without its pin, a worker or web process given a Redis
URL failed to start (``No module named 'packaging'``), while the tests passed, because pytest
brings ``packaging`` into the test environment."""

import ast
import importlib
import importlib.metadata as metadata
import inspect
import re
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
TRANSPORTS = ["portal.broker", "portal.redis_broker", "kombu.transport.filesystem", "kombu.transport.redis"]


def pinned() -> dict[str, set[str]]:
    """The distributions ``requirements.txt`` pins, with the extras it asks for."""
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            requirement = Requirement(line)
            pins[canonicalize_name(requirement.name)] = set(requirement.extras)
    return pins


def installed_by(pins: dict[str, set[str]]) -> set[str]:
    """``pins`` and everything they declare, as pip installs it."""
    found, todo = set(), [(name, extras) for name, extras in pins.items()]
    while todo:
        name, extras = todo.pop()
        if name in found:
            continue
        found.add(name)
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker and not any(requirement.marker.evaluate({"extra": extra}) for extra in extras | {""}):
                continue
            todo.append((canonicalize_name(requirement.name), set(requirement.extras)))
    return found


def unguarded_imports(module_name: str) -> set[str]:
    """The top-level packages ``module_name`` imports at load, outside a ``try``."""
    tree = ast.parse(inspect.getsource(importlib.import_module(module_name)))
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"__future__"}


@pytest.mark.parametrize("module_name", TRANSPORTS)
def test_what_a_broker_transport_imports_is_installed_by_requirements_txt(module_name):
    installed = installed_by(pinned())
    distributions = metadata.packages_distributions()
    missing = {package for package in unguarded_imports(module_name)
               if package != "portal"
               and not any(canonicalize_name(dist) in installed for dist in distributions.get(package, []))}
    assert not missing, f"{module_name} imports {sorted(missing)}, which requirements.txt does not install"


def test_the_check_sees_kombus_undeclared_import():
    """kombu's Redis transport imports ``packaging`` unguarded, and kombu does not declare it."""
    assert "packaging" in unguarded_imports("kombu.transport.redis")
    assert "packaging" not in installed_by({"kombu": set()})
