"""The sandbox keeps a connection open from one request to the next, as a provider's server does,
so that the portal's keep-alive (a session per connection and thread) is what the figures measure,
not a new connection per call."""

import http.client
import json
import socket
import struct
import time
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
    first_socket = connection.sock

    connection.request("GET", "/_sandbox/state/snaptrade")
    second = connection.getresponse()

    assert (first.version, first.status, second.status) == (11, 302, 200)
    assert "counters" in json.loads(second.read())
    assert connection.sock is first_socket  # the same connection: the client did not have to open another
    connection.close()


def test_a_client_that_asks_to_close_is_answered_and_closed(sandbox):
    connection = open_connection(sandbox)
    connection.request("GET", "/_sandbox/state/snaptrade", headers={"Connection": "close"})
    response = connection.getresponse()
    response.read()

    assert response.status == 200
    assert response.getheader("Connection") == "close"
    assert connection.sock is None  # closed after the answer


def test_a_client_that_resets_its_connection_leaves_no_error_behind(sandbox, capsys):
    """A client that gave up on an answer (its timeout) resets the connection it kept: the
    sandbox closes its side quietly, not with a traceback in its log."""
    connection = open_connection(sandbox)
    connection.request("GET", "/_sandbox/state/snaptrade")
    connection.getresponse().read()
    connection.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset
    connection.close()
    time.sleep(0.2)

    assert "Traceback" not in capsys.readouterr().err


def test_an_answer_goes_out_without_waiting_for_the_client_to_acknowledge_its_headers(sandbox, monkeypatch):
    """An answer is written in two parts (headers, then body). With Nagle's algorithm on, the body
    of an answer on a kept connection waits for the client's acknowledgement of the headers,
    which Linux delays by up to 40 ms: a 5 ms call took 45. The sandbox's sockets send at once,
    as a provider's server's do."""
    from provisioning.sandbox.server import QuietRequestHandler

    options = []
    setup = QuietRequestHandler.setup

    def setup_and_read_the_option(handler):
        setup(handler)
        options.append(handler.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    monkeypatch.setattr(QuietRequestHandler, "setup", setup_and_read_the_option)
    connection = open_connection(sandbox)
    connection.request("GET", "/_sandbox/state/snaptrade")
    connection.getresponse().read()
    connection.close()

    assert options and all(options)
