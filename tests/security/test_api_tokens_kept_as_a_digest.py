"""An API token's key is shown once and kept as its digest: whoever reads the database cannot call
the API with what they read (``provisioning/api/tokens.py``)."""

import importlib

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from provisioning.api.tokens import digest


@pytest.fixture
def bot(db, django_user_model):
    return django_user_model.objects.create_user("ops-bot", password="x-long-password")


def answers(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/v1/providers/").status_code


def test_a_token_is_kept_as_the_digest_of_its_key(bot):
    token = Token.objects.create(user=bot)
    stored = Token.objects.get(user=bot).key
    assert len(token.plain_key) == 40 and stored == token.key == digest(token.plain_key) != token.plain_key
    assert answers(token.plain_key) == 200
    assert answers(stored) == 401  # what the database holds does not open the API
    assert answers("0" * 40) == 401


def test_the_command_prints_a_key_once_and_replaces_it_only_when_asked(bot, capsys):
    call_command("drf_create_token", "ops-bot")
    key = capsys.readouterr().out.strip().rsplit(" ", 1)[1]
    assert answers(key) == 200 and Token.objects.get(user=bot).key == digest(key)

    with pytest.raises(CommandError, match="cannot be shown again: run the command again with --reset"):
        call_command("drf_create_token", "ops-bot")
    call_command("drf_create_token", "ops-bot", "--reset")
    new = capsys.readouterr().out.strip().rsplit(" ", 1)[1]
    assert answers(new) == 200 and answers(key) == 401
    with pytest.raises(CommandError, match="user nobody does not exist"):
        call_command("drf_create_token", "nobody")


def test_tokens_made_before_go_on_working_once_digested(bot):
    # as DRF kept them: the key itself (bulk_create sends no pre_save)
    Token.objects.bulk_create([Token(key="a" * 40, user=bot)])
    assert answers("a" * 40) == 401
    importlib.import_module("provisioning.migrations.0031_api_tokens_kept_as_a_digest").digest_keys(apps, None)
    assert answers("a" * 40) == 200 and Token.objects.get(user=bot).key == digest("a" * 40)
