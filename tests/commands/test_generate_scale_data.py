"""generate_scale_data needs PostgreSQL (its run there: tests/integration/test_scale_data_set.py)."""

import pytest
from django.core.management import CommandError, call_command


def test_it_refuses_another_database(db, monkeypatch):
    from django.db import connection

    monkeypatch.setattr(connection, "vendor", "sqlite")  # make test runs these on PostgreSQL too
    with pytest.raises(CommandError, match="needs PostgreSQL"):
        call_command("generate_scale_data", accounts=10)


def test_it_refuses_an_odd_number_of_accounts(db, monkeypatch):
    from django.db import connection

    monkeypatch.setattr(connection, "vendor", "postgresql")
    with pytest.raises(CommandError, match="even number"):
        call_command("generate_scale_data", accounts=7)
