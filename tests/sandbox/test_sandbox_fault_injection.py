"""Faults set through the control API: queued failures, 429s, rate limits, timeouts, late answers."""

import pytest
import requests
from snaptrade_client import ApiException


def test_fail_next_503_then_success(sandbox, sdk):
    sandbox.faults(fail_next=[{"status": 503}])
    with pytest.raises(ApiException) as error:
        sdk.authentication.register_snap_trade_user(user_id="portal-m1")
    assert error.value.status == 503
    assert error.value.body["status_code"] == 503
    assert sandbox.state()["users"] == []  # the fault came before the handler

    assert sdk.authentication.register_snap_trade_user(user_id="portal-m1").status == 200
    assert sandbox.state()["counters"]["POST /snapTrade/registerUser"] == {"200": 1, "503": 1}
    assert sandbox.state()["faults"]["fail_next"] == []


def test_injected_429_carries_retry_after_and_snaptrade_body(sandbox, signed):
    sandbox.faults(fail_next=[{"status": 429, "retry_after": 2}])
    response = signed("GET", "/snapTrade/listUsers")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert response.json() == {"detail": "Request was throttled. Expected available in 2 seconds.",
                               "status_code": 429, "code": "0000"}


def test_rate_limit_per_minute_gives_429_with_rate_headers(sandbox, signed):
    sandbox.faults(rate_limit_per_minute=2)
    first, second, third = (signed("GET", "/snapTrade/listUsers") for _ in range(3))
    assert [first.status_code, second.status_code, third.status_code] == [200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in (first, second, third)] == ["1", "0", "0"]
    assert third.headers["X-RateLimit-Limit"] == "2"
    assert 1 <= int(third.headers["Retry-After"]) <= 60
    assert third.headers["X-RateLimit-Reset"] == third.headers["Retry-After"]
    assert third.json()["code"] == "0000"

    sandbox.control("POST", "clock", {"advance_seconds": 61})  # the rolling window moves on
    assert signed("GET", "/snapTrade/listUsers").status_code == 200


def test_the_rate_limit_window_can_be_shortened(sandbox, signed):
    sandbox.faults(rate_limit_per_minute=1, rate_limit_window_seconds=5)
    first, second = (signed("GET", "/snapTrade/listUsers") for _ in range(2))
    assert [first.status_code, second.status_code] == [200, 429]
    assert 1 <= int(second.headers["Retry-After"]) <= 5

    sandbox.control("POST", "clock", {"advance_seconds": 6})
    assert signed("GET", "/snapTrade/listUsers").status_code == 200


def test_timeout_fault_is_not_processed(sandbox, signed):
    sandbox.faults(fail_next=[{"timeout": True, "seconds": 3}])
    with pytest.raises(requests.exceptions.ReadTimeout):
        signed("POST", "/snapTrade/registerUser", body={"userId": "portal-m1"}, timeout=0.3)
    assert sandbox.state()["users"] == []


def test_drop_after_processing_registers_the_user_but_the_client_times_out(sandbox, signed):
    sandbox.faults(fail_next=[{"drop_after_processing": True, "seconds": 3}])
    with pytest.raises(requests.exceptions.ReadTimeout):
        signed("POST", "/snapTrade/registerUser", body={"userId": "portal-m1"}, timeout=0.3)
    assert sandbox.state()["users"] == ["portal-m1"]  # the unknown outcome: it happened
    retry = signed("POST", "/snapTrade/registerUser", body={"userId": "portal-m1"})
    assert retry.status_code == 400 and retry.json()["code"] == "1010"


def test_fault_with_path_waits_for_a_matching_request(sandbox, signed):
    sandbox.faults(fail_next=[{"status": 503, "path": "listUsers"}])
    assert signed("POST", "/snapTrade/registerUser", body={"userId": "portal-m1"}).status_code == 200
    assert signed("GET", "/snapTrade/listUsers").status_code == 503
    assert signed("GET", "/snapTrade/listUsers").status_code == 200


def test_error_rate_one_fails_everything_but_control_endpoints(sandbox, signed):
    sandbox.faults(error_rate=1.0)
    assert signed("GET", "/snapTrade/listUsers").status_code == 503
    assert requests.get(sandbox.snaptrade_url + "/", timeout=5).status_code == 503
    assert requests.get(sandbox.url + "/_sandbox/healthz", timeout=5).status_code == 200
    sandbox.control("DELETE", "snaptrade/faults")
    assert signed("GET", "/snapTrade/listUsers").status_code == 200


@pytest.mark.parametrize("faults", [
    {"error_rate": 2},
    {"fail_next": [{"status": 200}]},
    {"fail_next": [{"status": 503, "timeout": True}]},
    {"no_such_fault": 1},
])
def test_invalid_faults_are_refused_and_nothing_applied(sandbox, faults):
    response = requests.post(sandbox.url + "/_sandbox/snaptrade/faults", json=faults, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"]
    assert sandbox.state()["faults"]["error_rate"] == 0 and sandbox.state()["faults"]["fail_next"] == []
