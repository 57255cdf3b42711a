"""The SCIM simulator: scim2-server mounted at /scim, behind the bearer token and the sandbox's faults."""

import time

import pytest
import requests

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class Scim:
    """Plain HTTP against ``/scim/v2`` with (or without) the simulator's bearer token."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.api = sandbox.url + "/scim/v2"
        self.token = sandbox.app["scim"].settings["bearer_token"]

    def call(self, method, path, *, token=True, **kwargs):
        headers = {"Authorization": f"Bearer {self.token}"} if token else {}
        return requests.request(method, self.api + path, headers=headers, timeout=10, **kwargs)

    def create(self, user_name, external_id=None, **kwargs):
        body = {"schemas": [USER_SCHEMA], "userName": user_name, "active": True}
        if external_id:
            body["externalId"] = external_id
        return self.call("POST", "/Users", json=body, **kwargs)


@pytest.fixture
def scim(sandbox):
    return Scim(sandbox)


def test_the_demo_token_is_the_one_bootstrap_configures(scim):
    from provisioning.sandbox.defaults import sandbox_credentials

    assert scim.token == sandbox_credentials()["scim"]["bearer_token"]


def test_users_are_created_read_and_listed_with_the_token(scim, sandbox):
    created = scim.create("jane@example.org", "portal-x-m1-c1")
    assert created.status_code == 201, created.text
    assert created.headers["Content-Type"].startswith("application/scim+json")
    user = created.json()
    assert user["meta"]["location"] == f"{scim.api}/Users/{user['id']}"

    listed = scim.call("GET", "/Users", params={"filter": 'externalId eq "portal-x-m1-c1"'}).json()
    assert listed["totalResults"] == 1 and listed["Resources"][0]["id"] == user["id"]
    assert scim.call("GET", f"/Users/{user['id']}").json()["userName"] == "jane@example.org"

    state = sandbox.state("scim")
    assert state["users"] == [{"id": user["id"], "userName": "jane@example.org", "externalId": "portal-x-m1-c1",
                               "active": True}]
    assert state["counters"]["POST /v2/Users"] == {"201": 1}
    assert state["counters"]["GET /v2/Users/<id>"] == {"200": 1}
    assert "sandbox-scim-token" not in str(state)  # the token setting is masked


def test_without_or_with_a_wrong_token_the_answer_is_401_in_scims_shape(scim):
    for answer in (scim.create("x@example.org", token=False),
                   scim.call("GET", "/Users", token=False),
                   requests.get(scim.api + "/Users", headers={"Authorization": "Bearer wrong"}, timeout=5)):
        assert answer.status_code == 401
        assert answer.json()["schemas"] == [ERROR_SCHEMA] and answer.json()["status"] == "401"
        assert answer.headers["WWW-Authenticate"] == 'Bearer realm="SCIM"'
    # RFC 7643 §5: the service provider configuration needs no authentication
    config = scim.call("GET", "/ServiceProviderConfig", token=False)
    assert config.status_code == 200
    assert [s["type"] for s in config.json()["authenticationSchemes"]] == ["oauthbearertoken"]


def test_a_second_user_with_the_same_user_name_is_a_uniqueness_conflict(scim):
    assert scim.create("jane@example.org", "a").status_code == 201
    conflict = scim.create("jane@example.org", "b")
    assert conflict.status_code == 409
    assert conflict.json()["scimType"] == "uniqueness"


def test_reset_gives_a_fresh_empty_server(scim, sandbox):
    assert scim.create("jane@example.org").status_code == 201
    sandbox.control("POST", "scim/reset")
    assert sandbox.state("scim")["users"] == []
    assert scim.call("GET", "/Users").json()["totalResults"] == 0
    assert scim.create("jane@example.org").status_code == 201  # the old userName is free again


def test_injected_faults_apply_before_scim2_server(scim, sandbox):
    sandbox.faults("scim", fail_next=[{"status": 503}, {"status": 429, "retry_after": 7}])

    unavailable = scim.create("jane@example.org")
    throttled = scim.create("jane@example.org")

    assert unavailable.status_code == 503 and unavailable.json()["schemas"] == [ERROR_SCHEMA]
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "7"
    assert sandbox.state("scim")["users"] == []  # neither reached the server
    assert scim.create("jane@example.org").status_code == 201


def test_a_dropped_answer_is_processed_all_the_same(scim, sandbox):
    sandbox.faults("scim", fail_next=[{"drop_after_processing": True, "seconds": 3, "path": "/Users"}])
    with pytest.raises(requests.ReadTimeout):
        requests.post(scim.api + "/Users", timeout=1, headers={"Authorization": f"Bearer {scim.token}"},
                      json={"schemas": [USER_SCHEMA], "userName": "late@example.org"})
    deadline = time.monotonic() + 5
    while not sandbox.state("scim")["users"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [u["userName"] for u in sandbox.state("scim")["users"]] == ["late@example.org"]


def test_outside_v2_nothing_is_served(scim, sandbox):
    answer = requests.get(sandbox.url + "/scim/Users", timeout=5)
    assert answer.status_code == 404 and answer.json()["schemas"] == [ERROR_SCHEMA]
