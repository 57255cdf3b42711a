"""Our SnapTrade client signs and encodes exactly like the official SDK.

The oracle is the SDK itself: its signer (``compute_request_signature``) over generated inputs,
and what the SDK and our client put on the wire, both captured by one loopback server. The
The published test vectors are fixed regression cases.
"""

from __future__ import annotations

import json
import threading
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import responses
import snaptrade_client.request_before_url_hook as sdk_timestamp_hook
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from snaptrade_client import SnapTrade, SnapTradeAuth
from snaptrade_client.request_after_hook import compute_request_signature

from provisioning.models import Connection
from provisioning.providers.snaptrade import SnapTradeClient, encode_query, request_signature

FROZEN = 1795311048
MOUNT = "/mounted/snaptrade"  # a base URL with a path, like the sandbox's
SPECIAL = " +/@=&!*'()~%?#;:,$[]\"<>\\^`{|}\t"
# user ids and secrets: the characters the signing docs call out, plus any other text
awkward_text = st.text(
    alphabet=st.one_of(st.sampled_from(SPECIAL + "øéß漢字🙂"), st.characters(codec="utf-8")),
    min_size=1,
    max_size=24,
)
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12))
json_body = st.recursive(
    st.dictionaries(st.text(max_size=8), json_leaf, max_size=4),
    lambda inner: st.dictionaries(
        st.text(max_size=8), st.one_of(json_leaf, inner, st.lists(inner, max_size=3)), max_size=4
    ),
    max_leaves=12,
)
many = settings(
    max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def make_client(base_url="https://api.snaptrade.com", client_id="CLIENT_TEST", consumer_key="CK_TEST", clock=FROZEN):
    connection = Connection(provider="snaptrade", name="t", base_url=base_url,
                            credentials={"client_id": client_id, "consumer_key": consumer_key})
    client = SnapTradeClient(connection)
    client.clock = lambda: clock
    return client


# --- the published test vectors --------------------------------------------------------------------

VECTORS = [
    # (client id, key, timestamp, call on our client, request target as sent, Signature)
    ("CLIENT_TEST", "CK_TEST", 1795311048, lambda c: c.register_user("bob"),
     "/snapTrade/registerUser?clientId=CLIENT_TEST&timestamp=1795311048",
     "QiUEoSOMT0mc7faeZ9T+jWhDSFO7Aq/QJkTFozi4NTk="),
    ("CLIENT_TEST", "CK_TEST", 1795311048, lambda c: c.login("bob", "sec ret/1"),
     "/snapTrade/login?userId=bob&userSecret=sec%20ret/1&clientId=CLIENT_TEST&timestamp=1795311048",
     "w8Hqfe32uxCkRxQqtAd1dceUmStDVHimW3BpSTLRaFI="),
    ("CLIENT_TEST", "CK_TEST", 1795311048, lambda c: c.list_users(),
     "/snapTrade/listUsers?clientId=CLIENT_TEST&timestamp=1795311048", "K8otnsEsmowTrKBaeHYnAflM3b6GvDVouFWC/q269xo="),
    ("CLIENT_TEST", "CK_TEST", 1795311048, lambda c: c.delete_user("bob"),
     "/snapTrade/deleteUser?userId=bob&clientId=CLIENT_TEST&timestamp=1795311048",
     "E6h9pjsSX/at7iT9kmHOML0ZDLoQ0wqgaPhv70rZRWM="),
    ("C", "CK", 1795311371, lambda c: c.register_user("bøb"),
     "/snapTrade/registerUser?clientId=C&timestamp=1795311371", "cLgmEXCwvW0r3K3n4rEqXDZ1ziu7iwXBpPvx5lSQxj8="),
]
ANSWERS = {
    "registerUser": {"userId": "bob", "userSecret": "s-1"},
    "login": {"redirectURI": "https://x", "sessionId": "1"},
    "listUsers": [],
    "deleteUser": {"status": "deleted", "detail": "", "userId": "bob"},
}


@pytest.mark.parametrize(
    ("client_id", "key", "timestamp", "call", "target", "signature"), VECTORS,
    ids=["register", "login", "list", "delete", "non-ascii-register"],
)
@pytest.mark.parametrize("base_url", ["https://api.snaptrade.com", "http://127.0.0.1:8001/snaptrade"])
def test_client_reproduces_the_documented_vectors(base_url, client_id, key, timestamp, call, target, signature):
    client = make_client(base_url, client_id, key, timestamp)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as http:
        name = target.split("?")[0].rsplit("/", 1)[1]
        for method in ("GET", "POST", "DELETE"):
            http.add(method, f"{base_url}/snapTrade/{name}", json=ANSWERS[name])
        call(client)
        sent = http.calls[0].request

    assert sent.url == base_url + target
    assert sent.headers["Signature"] == signature


def test_the_legacy_api_v1_vector_is_a_matter_of_the_signed_path():
    # SDK 11.0.205 signed "/api/v1/..."; our signer reproduces it when given that path
    assert request_signature(
        consumer_key="CK_TEST", path="/api/v1/snapTrade/registerUser",
        query="clientId=CLIENT_TEST&timestamp=1795311279", content={"userId": "bob"},
    ) == "x+PUo2GGSZLOhiLMKK5uvJval5pKaFM5XOrDRmkcVmY="


def test_the_status_request_is_not_signed():
    client = make_client()
    with responses.RequestsMock() as http:
        http.get("https://api.snaptrade.com/", json={"version": 151, "timestamp": "t", "online": True})
        client.api_status()
        sent = http.calls[0].request

    assert sent.url == "https://api.snaptrade.com/"
    assert "Signature" not in sent.headers


def test_each_request_takes_a_fresh_timestamp():
    ticks = iter([1000, 1001])
    client = make_client()
    client.clock = lambda: next(ticks) + 0.9  # integer seconds, not rounded
    with responses.RequestsMock() as http:
        http.get("https://api.snaptrade.com/snapTrade/listUsers", json=[])
        client.list_users()
        client.list_users()
        urls = [call.request.url for call in http.calls]

    assert urls[0].endswith("timestamp=1000") and urls[1].endswith("timestamp=1001")


# --- the signer against the SDK's, over generated inputs ----------------------------------------

@many
@given(path=st.sampled_from(["/snapTrade/registerUser", "/snapTrade/login", "/api/v1/snapTrade/x"]),
       params=st.lists(st.tuples(st.sampled_from(["userId", "userSecret", "broker"]), awkward_text), max_size=3),
       content=st.one_of(st.none(), st.just({}), json_body),
       key=st.text(min_size=1, max_size=40))
def test_signature_equals_the_sdks_for_any_query_and_body(path, params, content, key):
    query = encode_query([*params, ("clientId", "C"), ("timestamp", FROZEN)])
    expected = compute_request_signature(f"{path}?{query}", key, content)

    assert request_signature(consumer_key=key, path=path, query=query, content=content) == expected


# --- on the wire: our client and the SDK, captured by one loopback server -----------------------

class Capture(BaseHTTPRequestHandler):
    """Records each request's target, Signature and body; answers what the SDK expects to parse."""

    def _answer(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append(
            {"method": self.command, "target": self.path, "signature": self.headers.get("Signature"),
             "body": json.loads(body) if body else None}
        )
        name = self.path.split("?")[0].rsplit("/", 1)[1]
        answer = {"resetUserSecret": {"userId": "u", "userSecret": "new"}, **ANSWERS}.get(name, {})
        payload = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def wire():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Capture)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def official_sdk(wire):
    """The SDK pointed at the capture server, its timestamp frozen at FROZEN."""
    patch = pytest.MonkeyPatch()
    patch.setattr(sdk_timestamp_hook, "time", types.SimpleNamespace(time=lambda: FROZEN))
    auth = SnapTradeAuth.commercial_api_key(consumer_key="CK_TEST", client_id="CLIENT_TEST")
    yield SnapTrade(auth=auth, host=f"http://127.0.0.1:{wire.server_port}{MOUNT}")
    patch.undo()


@pytest.fixture(scope="module")
def our_client(wire):
    return make_client(f"http://127.0.0.1:{wire.server_port}{MOUNT}")


def sent_by(wire, action) -> dict:
    wire.seen.clear()
    action()
    (request,) = wire.seen
    return request


def assert_same_on_the_wire(wire, sdk_action, our_action):
    theirs, ours = sent_by(wire, sdk_action), sent_by(wire, our_action)
    assert ours["target"] == theirs["target"]
    assert ours["signature"] == theirs["signature"]
    assert ours["body"] == theirs["body"]
    assert ours["method"] == theirs["method"]
    # and the signature is the one the SDK's signer computes over the (mount-relative) target
    assert ours["signature"] == compute_request_signature(ours["target"].removeprefix(MOUNT), "CK_TEST", ours["body"])


@many
@given(user_id=awkward_text, user_secret=awkward_text)
def test_login_query_is_encoded_and_signed_as_the_sdk_sends_it(wire, official_sdk, our_client, user_id, user_secret):
    assert_same_on_the_wire(
        wire,
        lambda: official_sdk.authentication.login_snap_trade_user(user_id=user_id, user_secret=user_secret),
        lambda: our_client.login(user_id, user_secret),
    )


@many
@given(user_id=awkward_text)
def test_register_body_and_delete_query_match_the_sdk(wire, official_sdk, our_client, user_id):
    auth = official_sdk.authentication
    assert_same_on_the_wire(wire, lambda: auth.register_snap_trade_user(user_id=user_id),
                            lambda: our_client.register_user(user_id))
    assert_same_on_the_wire(wire, lambda: auth.delete_snap_trade_user(user_id=user_id),
                            lambda: our_client.delete_user(user_id))


@pytest.mark.parametrize("character", list(SPECIAL) + ["ø", "漢", "🙂"])
def test_each_special_character_is_encoded_like_the_sdk(wire, official_sdk, our_client, character):
    user_id = f"a{character}b"
    assert_same_on_the_wire(
        wire,
        lambda: official_sdk.authentication.login_snap_trade_user(user_id=user_id, user_secret=character),
        lambda: our_client.login(user_id, character),
    )


def test_login_options_reset_and_list_match_the_sdk(wire, official_sdk, our_client):
    auth = official_sdk.authentication
    options = {"broker": "ALPACA", "connectionType": "trade", "darkMode": True, "customRedirect": "https://e.x/a?b=c"}
    sdk_options = {"broker": "ALPACA", "connection_type": "trade", "dark_mode": True,
                   "custom_redirect": "https://e.x/a?b=c"}
    assert_same_on_the_wire(wire, lambda: auth.login_snap_trade_user(user_id="bob", user_secret="s", **sdk_options),
                            lambda: our_client.login("bob", "s", options))
    assert_same_on_the_wire(wire, lambda: auth.reset_snap_trade_user_secret(user_id="bob", user_secret="s /+"),
                            lambda: our_client.reset_user_secret("bob", "s /+"))
    assert_same_on_the_wire(wire, auth.list_snap_trade_users, our_client.list_users)


def test_documented_encodings_on_the_wire(wire, our_client):
    request = sent_by(wire, lambda: our_client.login("a b+c/d@e=f&g!*'()~h", "ø"))

    assert request["target"] == (
        f"{MOUNT}/snapTrade/login?userId=a%20b%2Bc/d%40e%3Df%26g%21%2A%27%28%29~h&userSecret=%C3%B8"
        f"&clientId=CLIENT_TEST&timestamp={FROZEN}"
    )
