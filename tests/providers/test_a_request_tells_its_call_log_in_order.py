"""What the base client tells its call log about one request, in order: before it is sent
(``before_request``), once its answer is read (``after_request``: a capped connection's place is
free from then), and its record. A pause the answer asks for is set before the place is free, so
that no request waiting for that place goes out in the pause."""

import pytest
import requests

from provisioning.models import Connection
from provisioning.providers.exceptions import RateLimited, TransientError
from provisioning.providers.http import NullCallLog
from provisioning.providers.kandy import KandyClient

BASE = "https://api.kandy.test/v1.2"
USERS = {"status": 0, "message": "success", "result": {"users": []}}


class OrderLog(NullCallLog):
    def __init__(self):
        self.told = []

    def before_request(self):
        self.told.append("before_request")

    def after_request(self):
        self.told.append("after_request")

    def pause(self, seconds):
        self.told.append(f"pause {seconds:g}")

    def record(self, call):
        self.told.append("record")


@pytest.fixture
def log():
    return OrderLog()


@pytest.fixture
def client(log):
    connection = Connection(provider="kandy", name="kandy", base_url=BASE,
                            credentials={"api_key": "DAK-key", "api_secret": "DAS-secret"},
                            secret_state={"domain_access_token": "DAT-token"})
    return KandyClient(connection, log)


def test_an_answer_frees_the_request_before_it_is_recorded(http, client, log):
    http.get(f"{BASE}/domains/users", json=USERS)

    client.list_users()

    assert log.told == ["before_request", "after_request", "record"]


def test_a_pause_the_answer_asks_for_is_set_before_the_request_is_freed(http, client, log):
    http.get(f"{BASE}/domains/users", status=429, body="slow down", headers={"Retry-After": "7"})

    with pytest.raises(RateLimited):
        client.list_users()

    assert log.told == ["before_request", "pause 7", "after_request", "record"]


def test_a_request_that_got_no_answer_is_freed_by_its_record(http, client, log):
    http.get(f"{BASE}/domains/users", body=requests.ConnectionError("refused"))

    with pytest.raises(TransientError):
        client.list_users()

    assert log.told == ["before_request", "record"]
