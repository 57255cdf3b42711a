"""Secrets never reach ExternalCall records: masked by name and by value."""

import json

from provisioning.providers.http import MASK, Redactor


def test_secret_query_parameters_and_headers_are_masked_by_name():
    redactor = Redactor()
    url = redactor.url("https://api.test/login?userId=bob&userSecret=abc%2F1&clientId=C&key=DAT123")
    headers = redactor.headers({"Signature": "sig", "Authorization": "user_token t", "Accept": "json"})

    assert "abc" not in url and "DAT123" not in url and "userId=bob" in url
    assert headers == {"Signature": MASK, "Authorization": MASK, "Accept": "json"}


def test_secret_json_keys_are_masked_at_any_depth(settings):
    body = json.dumps({"user": {"user_password": "p4ss-word", "user_id": "alice"}, "list": [{"userSecret": "x-y-z"}]})

    recorded = json.loads(Redactor().body(body, "application/json"))

    assert recorded == {"user": {"user_password": MASK, "user_id": "alice"}, "list": [{"userSecret": MASK}]}


def test_known_secret_values_are_masked_wherever_they_appear():
    redactor = Redactor()
    redactor.add_values("CONSUMER-KEY-42", "abc")  # too short values are not scrubbed

    assert redactor.text("error: key CONSUMER-KEY-42 refused (abc)") == f"error: key {MASK} refused (abc)"


def test_long_bodies_are_truncated(settings):
    settings.PROVISIONING = {**settings.PROVISIONING, "RECORDED_BODY_CHARS": 10}

    assert Redactor().body("x" * 50, "text/plain") == "x" * 10 + "…(truncated)"


def test_binary_bodies_are_described_not_stored():
    assert Redactor().body(b"\xff\xd8\xff\xe0" * 10, "image/jpeg") == "<40 bytes of image/jpeg>"
