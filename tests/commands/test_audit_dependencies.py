"""scripts/audit-dependencies: a vulnerability without a dated exception fails, an expired
exception fails, and an audit that could not happen fails where a complete audit is required
(AUDIT_REQUIRE_COMPLETE=1) and is a loud warning elsewhere (pip-audit's answer faked)."""

import datetime
import importlib.machinery
import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "audit-dependencies"


@pytest.fixture
def audit(tmp_path, monkeypatch):
    loader = importlib.machinery.SourceFileLoader("audit_dependencies", str(SCRIPT))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    module.EXCEPTIONS = tmp_path / "pip-audit-exceptions.txt"
    calls = []

    def run(answer: dict, exceptions: str = "", returncode: int = 0):
        module.EXCEPTIONS.write_text(exceptions)

        def fake_run(command, **kwargs):
            calls.append(command)
            return subprocess.CompletedProcess(command, returncode, stdout=json.dumps(answer) if answer else "", stderr="boom")

        monkeypatch.setattr(module.subprocess, "run", fake_run)
        return module.main()

    run.calls = calls
    return run


CLEAN = {"dependencies": [{"name": "django", "version": "6.0.10", "vulns": []}]}
VULNERABLE = {"dependencies": [{"name": "django", "version": "6.0.10", "vulns": [{"id": "GHSA-aaaa-bbbb-cccc", "fix_versions": ["6.0.11"]}]}]}
SKIPPED = {"dependencies": [{"name": "django", "skip_reason": "Dependency not found on PyPI and could not be audited"}]}
LATER = (datetime.date.today() + datetime.timedelta(days=30)).isoformat()
EARLIER = (datetime.date.today() - datetime.timedelta(days=1)).isoformat()


def test_clean_passes(audit, capsys):
    assert audit(CLEAN) == 0
    assert "no known vulnerability" in capsys.readouterr().out


def test_a_vulnerability_fails(audit, capsys):
    assert audit(VULNERABLE) == 1
    assert "GHSA-aaaa-bbbb-cccc" in capsys.readouterr().err


def test_a_dated_exception_is_passed_to_pip_audit(audit):
    assert audit(CLEAN, f"# comment\nGHSA-aaaa-bbbb-cccc  {LATER}  not reachable from our code\n") == 0
    command = audit.calls[-1]
    assert command[command.index("--ignore-vuln") + 1] == "GHSA-aaaa-bbbb-cccc"


def test_an_expired_or_undated_exception_fails(audit, capsys):
    assert audit(CLEAN, f"GHSA-aaaa-bbbb-cccc  {EARLIER}  was fine\n") == 1
    assert "expired" in capsys.readouterr().err
    assert audit(CLEAN, "GHSA-aaaa-bbbb-cccc  someday  why not\n") == 1


def test_an_audit_that_could_not_happen_fails_where_required(audit, capsys, monkeypatch):
    monkeypatch.setenv("AUDIT_REQUIRE_COMPLETE", "1")
    assert audit(SKIPPED) == 1
    assert "could not be audited" in capsys.readouterr().err
    assert audit({}, returncode=1) == 1
    assert "reachable" in capsys.readouterr().err


def test_an_audit_that_could_not_happen_is_a_loud_warning_otherwise(audit, capsys, monkeypatch):
    monkeypatch.delenv("AUDIT_REQUIRE_COMPLETE", raising=False)
    assert audit(SKIPPED) == 0
    captured = capsys.readouterr()
    assert "INCOMPLETE" in captured.err and "could not be audited" in captured.err
    assert "no known vulnerability" not in captured.out
    assert audit(VULNERABLE) == 1  # what it did check still fails
