"""Faults the sandbox injects into SnapTrade's answers, handled by a real worker: outages and
timeouts are retried to success, a 429 is waited out for at least its ``Retry-After``, and a
registration whose answer was lost is never repeated.

Waits are asserted from what the portal recorded (the ExternalCall rows of each attempt), never
from how long the test took.
"""

import pytest

from provisioning.models import ExternalCall
from tests.integration.support import wait_for

pytestmark = pytest.mark.integration

REGISTER = "POST /snapTrade/registerUser"


def calls(operation_id: int) -> list[ExternalCall]:
    return list(ExternalCall.objects.filter(operation_id=operation_id).order_by("created_at", "id"))


def test_outages_are_retried_until_snaptrade_registers_the_user(api, snaptrade, celery_worker_process):
    outage = {"status": 503, "path": "registerUser"}
    snaptrade.control.faults("snaptrade", fail_next=[outage, {"status": 500, "path": "registerUser"}])
    celery_worker_process()

    account, operation = api.provision("outage@example.org", snaptrade.connection)
    done = api.operation(operation["id"])

    assert (done["status"], done["attempts"]) == ("succeeded", 3)
    assert snaptrade.users() == [account["external_id"]]
    assert snaptrade.counter(REGISTER) == {"200": 1, "500": 1, "503": 1}
    statuses = [(c.attempt, c.method, c.url.split("?")[0].rsplit("/", 1)[1], c.status_code)
                for c in calls(operation["id"])]
    assert statuses == [
        (1, "POST", "registerUser", 503),
        (2, "GET", "listUsers", 200), (2, "POST", "registerUser", 500),  # a retry looks before it leaps
        (3, "GET", "listUsers", 200), (3, "POST", "registerUser", 200),
    ]


def test_a_register_that_timed_out_unprocessed_is_retried_to_success(api, snaptrade, celery_worker_process):
    # longer than the client's read timeout (PROVIDER_READ_TIMEOUT_SECONDS=2 in the test settings)
    snaptrade.control.faults("snaptrade", fail_next=[{"timeout": True, "seconds": 4, "path": "registerUser"}])
    celery_worker_process()

    account, operation = api.provision("slow@example.org", snaptrade.connection)
    done = api.operation(operation["id"])

    assert (done["status"], done["attempts"]) == ("succeeded", 2)
    first = calls(operation["id"])[0]
    assert first.status_code is None and first.error.startswith("unknown_outcome")
    assert snaptrade.users() == [account["external_id"]]
    assert api.call("GET", f"accounts/{account['id']}/")["secrets_set"] == ["user_secret"]


def test_a_register_carried_out_but_answered_too_late_is_not_repeated(api, snaptrade, celery_worker_process):
    snaptrade.control.faults(
        "snaptrade", fail_next=[{"drop_after_processing": True, "seconds": 4, "path": "registerUser"}]
    )
    celery_worker_process()

    account, operation = api.provision("lost@example.org", snaptrade.connection)
    done = api.operation(operation["id"])

    assert (done["status"], done["error"]["code"]) == ("failed", "needs_attention")
    assert done["attempts"] == 2
    # the sandbox counts a request once its (late) answer is out
    wait_for(lambda: snaptrade.counter(REGISTER), "the late answer to be sent")
    assert snaptrade.counter(REGISTER) == {"200": 1}  # SnapTrade registered it once, and only once
    assert snaptrade.users() == [account["external_id"]]
    assert "never received its secret" in api.call("GET", f"accounts/{account['id']}/")["attention"]


def test_a_timed_out_listing_is_retried_to_success(api, snaptrade, celery_worker_process):
    snaptrade.control.faults("snaptrade", fail_next=[{"timeout": True, "seconds": 4, "path": "listUsers"}])
    celery_worker_process()
    account, operation = api.provision("sync@example.org", snaptrade.connection)
    assert api.operation(operation["id"])["status"] == "succeeded"

    sync = api.call("POST", f"accounts/{account['id']}/sync/")
    done = api.operation(sync["id"])

    assert (done["status"], done["attempts"]) == ("succeeded", 2)
    assert done["result"] == {"user_id": account["external_id"], "present_remotely": True}
    assert calls(sync["id"])[0].error.startswith("transient")


def test_throttling_is_waited_out_for_at_least_retry_after(api, snaptrade, celery_worker_process):
    retry_after = 3
    snaptrade.control.faults(
        "snaptrade", fail_next=[{"status": 429, "retry_after": retry_after, "path": "registerUser"}]
    )
    celery_worker_process()

    account, operation = api.provision("throttled@example.org", snaptrade.connection)
    done = api.operation(operation["id"])

    assert (done["status"], done["attempts"]) == ("succeeded", 2)
    throttled, *retried = calls(operation["id"])
    assert (throttled.attempt, throttled.status_code) == (1, 429)
    assert throttled.error.startswith("rate_limited")
    assert retried and all(c.attempt == 2 for c in retried)
    gap = (retried[0].created_at - throttled.created_at).total_seconds()
    assert gap >= retry_after
