"""The control API under /_sandbox/: state, reset, clock, outbox, settings, dashboard."""

import pytest
import requests


def test_state_lists_every_simulator_with_counters(sandbox, sdk):
    sdk.authentication.register_snap_trade_user(user_id="portal-m1")
    state = sandbox.control("GET", "state")
    assert "snaptrade" in state
    snap = state["snaptrade"]
    assert snap["users"] == ["portal-m1"]
    assert snap["counters"] == {"POST /snapTrade/registerUser": {"200": 1}}
    assert snap["requests_total"] == 1
    assert snap["settings"]["consumer_key"] == "***"


def test_reset_of_one_simulator_and_of_everything(sandbox, sdk):
    sdk.authentication.register_snap_trade_user(user_id="portal-m1")
    sandbox.faults(latency_ms=1)
    sandbox.control("POST", "snaptrade/reset")
    state = sandbox.state()
    assert (state["users"], state["counters"], state["faults"]["latency_ms"]) == ([], {}, 0)

    sdk.authentication.register_snap_trade_user(user_id="portal-m2")
    sandbox.control("POST", "clock", {"offset_seconds": 50})
    sandbox.app.outbox.send(simulator="kandy", channel="sms", to="+15550000001", body="code 1234")
    sandbox.control("POST", "reset")
    assert sandbox.state()["users"] == []
    assert sandbox.control("GET", "clock")["offset_seconds"] == 0
    assert sandbox.control("GET", "outbox") == []


def test_clock_offset_and_advance(sandbox):
    assert sandbox.control("POST", "clock", {"offset_seconds": 100})["offset_seconds"] == 100
    assert sandbox.control("POST", "clock", {"advance_seconds": 5})["offset_seconds"] == 105
    assert sandbox.app.clock.offset == 105
    bad = requests.post(sandbox.url + "/_sandbox/clock", json={"offset_seconds": "soon"}, timeout=5)
    assert bad.status_code == 400


def test_outbox_lists_messages_newest_last_with_filters(sandbox):
    outbox = sandbox.app.outbox
    outbox.send(simulator="xhoppe", channel="sms", to="+15550000001", body="Your code is 1234", data={"code": "1234"})
    outbox.send(simulator="flyve", channel="email", to="ann@example.org", subject="Validate", body="Click")
    outbox.send(simulator="xhoppe", channel="sms", to="+15550000002", body="Your code is 9999")

    messages = sandbox.control("GET", "outbox")
    assert [m["to"] for m in messages] == ["+15550000001", "ann@example.org", "+15550000002"]
    first = messages[0]
    assert set(first) == {"id", "simulator", "channel", "to", "subject", "body", "data", "sent_at"}
    assert first["data"] == {"code": "1234"}
    assert [m["to"] for m in sandbox.control("GET", "outbox?simulator=xhoppe")] == ["+15550000001", "+15550000002"]
    assert [m["body"] for m in sandbox.control("GET", "outbox?to=%2B15550000002")] == ["Your code is 9999"]
    assert outbox.last(simulator="flyve")["subject"] == "Validate"
    with pytest.raises(ValueError):
        outbox.send(simulator="x", channel="pigeon", to="y", body="z")


def test_settings_are_validated(sandbox):
    assert sandbox.control("POST", "snaptrade/settings", {"delete_delay_seconds": 0})["delete_delay_seconds"] == 0
    for bad in ({"nope": 1}, {"delete_delay_seconds": "later"}):
        response = requests.post(sandbox.url + "/_sandbox/snaptrade/settings", json=bad, timeout=5)
        assert response.status_code == 400


def test_unknown_simulator_and_route_are_404(sandbox):
    assert requests.get(sandbox.url + "/_sandbox/state/nope", timeout=5).status_code == 404
    assert requests.post(sandbox.url + "/_sandbox/nope/faults", json={}, timeout=5).status_code == 404
    assert requests.get(sandbox.url + "/nope/thing", timeout=5).status_code == 404
    wrong_method = requests.get(sandbox.snaptrade_url + "/snapTrade/registerUser", timeout=5)
    assert wrong_method.status_code == 405 and wrong_method.json()["status_code"] == 405


def test_dashboard_and_healthz(sandbox, sdk):
    sdk.authentication.register_snap_trade_user(user_id="portal-<m1>")
    sandbox.app.outbox.send(simulator="kandy", channel="sms", to="+15550000001", body="hello")
    page = requests.get(sandbox.url + "/_sandbox/", timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "snaptrade" in page.text and "portal-&lt;m1&gt;" in page.text and "+15550000001" in page.text
    assert requests.get(sandbox.url + "/", timeout=5, allow_redirects=False).headers["Location"] == "/_sandbox/"
    assert sandbox.control("GET", "healthz") == {"ok": True}
