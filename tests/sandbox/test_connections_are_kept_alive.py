"""The sandbox keeps a connection open from one request to the next, as a provider's server does,
so that the portal's keep-alive (a session per connection and thread) is what the figures measure,
not a new connection per call."""

import http.client
import json
from urllib.parse import urlsplit


def open_connection(sandbox) -> http.client.HTTPConnection:
    url = urlsplit(sandbox.url)
    return http.client.HTTPConnection(url.hostname, url.port, timeout=5)


def test_requests_follow_one_another_on_one_connection(sandbox):
    connection = open_connection(sandbox)
    # a body the application never reads (a redirect): it must not be taken for the next request
    connection.request("POST", "/", body=b'{"unread": true}' * 100, headers={"Content-Type": "application/json"})
    first = connection.getresponse()
    first.read()
    socket = connection.sock

    connection.request("GET", "/_sandbox/state/snaptrade")
    second = connection.getresponse()

    assert (first.version, first.status, second.status) == (11, 302, 200)
    assert "counters" in json.loads(second.read())
    assert connection.sock is socket  # the same connection: the client did not have to open another
    connection.close()


def test_a_client_that_asks_to_close_is_answered_and_closed(sandbox):
    connection = open_connection(sandbox)
    connection.request("GET", "/_sandbox/state/snaptrade", headers={"Connection": "close"})
    response = connection.getresponse()
    response.read()

    assert response.status == 200
    assert response.getheader("Connection") == "close"
    assert connection.sock is None  # closed after the answer
