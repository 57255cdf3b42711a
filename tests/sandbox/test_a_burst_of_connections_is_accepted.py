"""The sandbox accepts a burst of connections as a real server does: a worker's call threads open
dozens at once (each request is a connection of its own), and a small listen backlog would drop
them, to be retried by the client's kernel seconds later."""

import socket

from provisioning.sandbox.server import make_sandbox_server

BURST = 64


def test_a_burst_of_connections_waits_in_the_backlog_instead_of_being_dropped():
    server = make_sandbox_server(port=0)  # listening, but not accepting: every connection queues
    clients = []
    try:
        for _ in range(BURST):
            client = socket.socket()
            client.settimeout(0.5)  # a dropped handshake is retried after 1 s: this would time out
            client.connect(("127.0.0.1", server.server_port))
            clients.append(client)
    finally:
        for client in clients:
            client.close()
        server.application.close()
        server.server_close()

    assert len(clients) == BURST
