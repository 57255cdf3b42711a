"""The official SDK (13.x) drives the simulator through a user's whole life, and gets SnapTrade's errors."""

import pytest
import requests
from snaptrade_client import ApiException, SnapTrade, SnapTradeAuth


def test_register_login_list_reset_delete(sandbox, sdk):
    assert sdk.api_status.check().body["online"] is True

    registered = sdk.authentication.register_snap_trade_user(user_id="portal-m1")
    assert registered.status == 200
    assert registered.body["userId"] == "portal-m1"
    secret = registered.body["userSecret"]

    login = sdk.authentication.login_snap_trade_user(user_id="portal-m1", user_secret=secret)
    assert login.body["redirectURI"].startswith(sandbox.snaptrade_url + "/connection-portal?token=")
    assert f"sessionId={login.body['sessionId']}" in login.body["redirectURI"]
    assert "valid for SnapTrade user portal-m1" in requests.get(login.body["redirectURI"], timeout=5).text

    assert list(sdk.authentication.list_snap_trade_users().body) == ["portal-m1"]

    rotated = sdk.authentication.reset_snap_trade_user_secret(user_id="portal-m1", user_secret=secret)
    assert rotated.body["userSecret"] not in ("", secret)
    with pytest.raises(ApiException) as old_secret:
        sdk.authentication.login_snap_trade_user(user_id="portal-m1", user_secret=secret)
    assert (old_secret.value.status, old_secret.value.body["code"]) == (401, "1083")

    deleted = sdk.authentication.delete_snap_trade_user(user_id="portal-m1")
    assert deleted.body["status"] == "deleted" and deleted.body["userId"] == "portal-m1"
    assert list(sdk.authentication.list_snap_trade_users().body) == ["portal-m1"]  # deletion is queued
    assert sandbox.state()["pending_deletion"] == ["portal-m1"]

    sandbox.control("POST", "clock", {"advance_seconds": 3})
    assert list(sdk.authentication.list_snap_trade_users().body) == []
    assert sandbox.state()["users"] == []


def test_a_deletion_takes_only_its_user_and_its_links_when_it_is_due(sandbox, sdk):
    """Only the users queued for deletion are looked at when a request purges the due ones: the
    others, and their login links, stay; the deleted one's link stops working; its id is free."""
    secrets = {user_id: sdk.authentication.register_snap_trade_user(user_id=user_id).body["userSecret"]
               for user_id in ("portal-m1", "portal-m2")}
    links = {user_id: sdk.authentication.login_snap_trade_user(user_id=user_id, user_secret=secret).body["redirectURI"]
             for user_id, secret in secrets.items()}
    sdk.authentication.delete_snap_trade_user(user_id="portal-m1")

    sandbox.control("POST", "clock", {"advance_seconds": 3})

    assert list(sdk.authentication.list_snap_trade_users().body) == ["portal-m2"]
    assert sandbox.state()["pending_deletion"] == []
    assert requests.get(links["portal-m1"], timeout=5).status_code == 404
    assert requests.get(links["portal-m2"], timeout=5).status_code == 200
    assert sdk.authentication.register_snap_trade_user(user_id="portal-m1").status == 200


def test_bad_consumer_key_gets_401_code_1076(sandbox):
    auth = SnapTradeAuth.commercial_api_key(consumer_key="not-the-key", client_id=sandbox.client_id)
    client = SnapTrade(auth=auth, host=sandbox.snaptrade_url)
    with pytest.raises(ApiException) as error:
        client.authentication.register_snap_trade_user(user_id="portal-m1")
    assert error.value.status == 401
    assert error.value.body == {"detail": "Unable to verify signature sent", "status_code": 401, "code": "1076"}
    assert sandbox.state()["users"] == []


def test_unknown_client_id_gets_401(sandbox):
    auth = SnapTradeAuth.commercial_api_key(consumer_key=sandbox.consumer_key, client_id="SOMEONE-ELSE")
    with pytest.raises(ApiException) as error:
        SnapTrade(auth=auth, host=sandbox.snaptrade_url).authentication.list_snap_trade_users()
    assert error.value.status == 401
    assert error.value.body["detail"] == "Invalid clientId provided"


def test_duplicate_register_gets_400_with_configurable_code(sandbox, sdk):
    sdk.authentication.register_snap_trade_user(user_id="portal-m1")
    with pytest.raises(ApiException) as error:
        sdk.authentication.register_snap_trade_user(user_id="portal-m1")
    assert error.value.status == 400
    assert error.value.body["code"] == "1010"

    sandbox.control("POST", "snaptrade/settings", {"duplicate_user_code": "1012"})
    with pytest.raises(ApiException) as again:
        sdk.authentication.register_snap_trade_user(user_id="portal-m1")
    assert again.value.body["code"] == "1012"


def test_unknown_user_gets_404_code_1011(sdk):
    for call in (lambda: sdk.authentication.delete_snap_trade_user(user_id="nobody"),
                 lambda: sdk.authentication.login_snap_trade_user(user_id="nobody", user_secret="x"),
                 lambda: sdk.authentication.reset_snap_trade_user_secret(user_id="nobody", user_secret="x")):
        with pytest.raises(ApiException) as error:
            call()
        assert (error.value.status, error.value.body["code"]) == (404, "1011")


def test_client_clock_outside_skew_is_rejected(sandbox, sdk):
    sandbox.control("POST", "clock", {"offset_seconds": 301})
    with pytest.raises(ApiException) as error:
        sdk.authentication.list_snap_trade_users()
    assert error.value.status == 401
    assert error.value.body["detail"] == "Invalid timestamp"


def test_login_link_expires_after_five_minutes(sandbox, sdk):
    secret = sdk.authentication.register_snap_trade_user(user_id="portal-m1").body["userSecret"]
    link = sdk.authentication.login_snap_trade_user(user_id="portal-m1", user_secret=secret).body["redirectURI"]
    sandbox.control("POST", "clock", {"advance_seconds": 301})
    page = requests.get(link, timeout=5)
    assert page.status_code == 410
    assert "expired" in page.text


def test_legacy_api_v1_paths_are_served_and_deprecated(sandbox, signed):
    response = signed("POST", "/api/v1/snapTrade/registerUser", body={"userId": "legacy"})
    assert response.status_code == 200
    assert response.headers["Deprecation"] == "@1781222400"
    assert sandbox.state()["users"] == ["legacy"]


def test_every_response_has_a_request_id_and_signed_ones_rate_headers(signed, sandbox):
    ok = signed("GET", "/snapTrade/listUsers")
    missing = signed("POST", "/snapTrade/registerUser", body={})
    assert missing.status_code == 400 and missing.json()["status_code"] == 400
    for response in (ok, missing):
        assert response.headers["X-Request-ID"]
        assert response.headers["X-RateLimit-Limit"] == "250"
    assert int(missing.headers["X-RateLimit-Remaining"]) == 248
    assert requests.get(sandbox.snaptrade_url + "/", timeout=5).headers["X-Request-ID"]


def test_body_is_verified_in_canonical_form_not_as_sent(sandbox, signed):
    secret = sandbox.app["snaptrade"].seed_user("portal-m1")
    options = {"showCloseButton": True, "connectionType": "read", "broker": "ALPACA"}  # unsorted on the wire
    response = signed("POST", "/snapTrade/login", params=[("userId", "portal-m1"), ("userSecret", secret)],
                      body=options)
    assert response.status_code == 200, response.text
    assert response.json()["redirectURI"].startswith(sandbox.snaptrade_url + "/connection-portal?")
