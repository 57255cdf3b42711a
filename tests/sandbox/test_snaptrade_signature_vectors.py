"""The simulator verifies the published test vectors byte for byte, and rejects any change."""

import http.client
import json
import time
import urllib.parse

import pytest
from snaptrade_client.request_after_hook import compute_request_signature

from provisioning.sandbox.snaptrade import compute_signature

# (client id, consumer key, method, request target as sent, body bytes or None, Signature)
VECTORS = [
    ("CLIENT_TEST", "CK_TEST", "POST", "/snapTrade/registerUser?clientId=CLIENT_TEST&timestamp=1795311048",
     b'{"userId":"bob"}', "QiUEoSOMT0mc7faeZ9T+jWhDSFO7Aq/QJkTFozi4NTk="),
    ("CLIENT_TEST", "CK_TEST", "POST",
     "/snapTrade/login?userId=bob&userSecret=sec%20ret/1&clientId=CLIENT_TEST&timestamp=1795311048",
     b"{}", "w8Hqfe32uxCkRxQqtAd1dceUmStDVHimW3BpSTLRaFI="),
    ("CLIENT_TEST", "CK_TEST", "GET", "/snapTrade/listUsers?clientId=CLIENT_TEST&timestamp=1795311048",
     None, "K8otnsEsmowTrKBaeHYnAflM3b6GvDVouFWC/q269xo="),
    ("CLIENT_TEST", "CK_TEST", "DELETE", "/snapTrade/deleteUser?userId=bob&clientId=CLIENT_TEST&timestamp=1795311048",
     None, "E6h9pjsSX/at7iT9kmHOML0ZDLoQ0wqgaPhv70rZRWM="),
    ("CLIENT_TEST", "CK_TEST", "POST", "/api/v1/snapTrade/registerUser?clientId=CLIENT_TEST&timestamp=1795311279",
     b'{"userId":"bob"}', "x+PUo2GGSZLOhiLMKK5uvJval5pKaFM5XOrDRmkcVmY="),
    ("C", "CK", "POST", "/snapTrade/registerUser?clientId=C&timestamp=1795311371",
     '{"userId":"bøb"}'.encode(), "cLgmEXCwvW0r3K3n4rEqXDZ1ziu7iwXBpPvx5lSQxj8="),
]
IDS = ["register", "login", "list", "delete", "legacy-register", "non-ascii-register"]


def send(sandbox, method, target, body, signature):
    parsed = urllib.parse.urlsplit(sandbox.url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=5)
    headers = {"Signature": signature, **({"Content-Type": "application/json"} if body is not None else {})}
    connection.request(method, "/snaptrade" + target, body=body, headers=headers)
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response.status, payload


def at_vector_time(sandbox, client_id, consumer_key, target):
    """Configure the vector's credentials, set the sandbox clock to its timestamp, seed user bob."""
    timestamp = int(urllib.parse.parse_qs(urllib.parse.urlsplit(target).query)["timestamp"][0])
    sandbox.control("POST", "snaptrade/settings", {"client_id": client_id, "consumer_key": consumer_key})
    sandbox.control("POST", "clock", {"offset_seconds": timestamp - time.time()})
    if "registerUser" not in target:
        sandbox.app["snaptrade"].seed_user("bob", "sec ret/1")


@pytest.mark.parametrize(("client_id", "key", "method", "target", "body", "signature"), VECTORS, ids=IDS)
def test_signature_function_reproduces_vector_and_sdk(client_id, key, method, target, body, signature):
    path, query = target.split("?")
    content = None if body is None else json.loads(body)
    assert compute_signature(key, path, query, content) == signature
    assert compute_request_signature(target, key, content) == signature


@pytest.mark.parametrize(("client_id", "key", "method", "target", "body", "signature"), VECTORS, ids=IDS)
def test_simulator_accepts_vector(sandbox, client_id, key, method, target, body, signature):
    at_vector_time(sandbox, client_id, key, target)
    status, payload = send(sandbox, method, target, body, signature)
    assert status == 200, payload


@pytest.mark.parametrize("tamper", ["signature", "query", "body", "path-prefix"])
def test_simulator_rejects_tampered_vector(sandbox, tamper):
    client_id, key, method, target, body, signature = VECTORS[0]
    at_vector_time(sandbox, client_id, key, target)
    if tamper == "signature":
        signature = signature.replace("Q", "R", 1)
    elif tamper == "query":
        target = target.replace("clientId=CLIENT_TEST&timestamp", "timestamp=1795311048&clientId=CLIENT_TEST&x")
    elif tamper == "body":
        body = b'{"userId":"eve"}'
    else:  # signed as /snapTrade/..., sent to /api/v1/snapTrade/...: the 11.0.205 host trap
        target = "/api/v1" + target
    status, payload = send(sandbox, method, target, body, signature)
    assert status == 401
    assert json.loads(payload) == {
        "detail": "Unable to verify signature sent", "status_code": 401, "code": "1076"}
    assert sandbox.state()["users"] == []


def test_vector_outside_timestamp_skew_is_rejected(sandbox):
    client_id, key, method, target, body, signature = VECTORS[0]
    at_vector_time(sandbox, client_id, key, target)
    sandbox.control("POST", "clock", {"advance_seconds": 301})
    status, payload = send(sandbox, method, target, body, signature)
    assert status == 401
    assert b'"code": "1076"' in payload and b"Invalid timestamp" in payload
