"""Fixtures: a fresh in-process sandbox per test, an SDK client and a signed-request helper."""

import json
import time
import urllib.parse

import pytest
import requests
from snaptrade_client import SnapTrade, SnapTradeAuth
from snaptrade_client.request_after_hook import compute_request_signature

from provisioning.sandbox.app import create_app
from provisioning.sandbox.server import start_in_thread

CLIENT_ID = "TEST-CLIENT"
CONSUMER_KEY = "test-consumer-key"


class Sandbox:
    def __init__(self, app, url):
        self.app = app
        self.url = url
        self.snaptrade_url = url + "/snaptrade"
        self.client_id, self.consumer_key = CLIENT_ID, CONSUMER_KEY

    def control(self, method, path, body=None):
        response = requests.request(method, f"{self.url}/_sandbox/{path.lstrip('/')}", json=body, timeout=5)
        assert response.status_code == 200, response.text
        return response.json()

    def faults(self, simulator="snaptrade", **faults):
        return self.control("POST", f"{simulator}/faults", faults)

    def state(self, simulator="snaptrade"):
        return self.control("GET", f"state/{simulator}")


@pytest.fixture
def sandbox():
    app = create_app(settings={"snaptrade": {"client_id": CLIENT_ID, "consumer_key": CONSUMER_KEY}})
    url, stop = start_in_thread(app=app)
    yield Sandbox(app, url)
    stop()


@pytest.fixture
def sdk(sandbox):
    auth = SnapTradeAuth.commercial_api_key(consumer_key=CONSUMER_KEY, client_id=CLIENT_ID)
    return SnapTrade(auth=auth, host=sandbox.snaptrade_url)


@pytest.fixture
def signed(sandbox):
    """``signed(method, path, params=(), body=None, timeout=5)``: a request signed as the SDK signs it."""
    def send(method, path, params=(), body=None, timeout=5, consumer_key=CONSUMER_KEY):
        query = urllib.parse.urlencode([*params, ("clientId", CLIENT_ID), ("timestamp", int(time.time()))],
                                       quote_via=urllib.parse.quote)
        headers = {"Signature": compute_request_signature(f"{path}?{query}", consumer_key, body)}
        data = None if body is None else json.dumps(body)
        if data is not None:
            headers["Content-Type"] = "application/json"
        return requests.request(method, f"{sandbox.snaptrade_url}{path}?{query}", data=data, headers=headers,
                                timeout=timeout)
    return send
