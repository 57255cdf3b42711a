"""Serve the sandbox with the stdlib: a threading ``wsgiref`` server, speaking HTTP/1.1 with
keep-alive as the providers' servers do (``wsgiref`` alone answers in HTTP/1.0 and closes the
connection after each request, so that every provider call of the portal would open a new one).

Logs one line per request at INFO (method, path without query, status): never query strings,
bodies or headers, which carry secrets and signatures.
"""

from __future__ import annotations

import io
import logging
import socketserver
import threading
from http.server import BaseHTTPRequestHandler
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer, make_server

from .app import App, create_app

logger = logging.getLogger("provisioning.sandbox.server")


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    # the listen backlog of a real server (socketserver's default is 5): a worker's call threads
    # open dozens of connections at once; beyond the backlog the kernel drops them, the client
    # waits 1, 3, 7 s to retry, and a connect timeout would count toward quarantining the
    # connection: a fault no provider showed
    request_queue_size = 1024


# how long a connection may stay idle between two requests before the sandbox closes it (a
# provider's server does the same; the client notices a closed one before reusing it)
KEEP_ALIVE_SECONDS = 30


class KeepAliveServerHandler(ServerHandler):
    """Answers in HTTP/1.1; a response without a length (its body ends when the connection
    does) closes the connection."""

    http_version = "1.1"

    def cleanup_headers(self):
        super().cleanup_headers()
        if "Content-Length" not in self.headers:
            self.request_handler.close_connection = True
        if self.request_handler.close_connection:
            self.headers["Connection"] = "close"


class QuietRequestHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless the client asks to close
    timeout = KEEP_ALIVE_SECONDS
    # an answer's headers and body go out as two writes: with Nagle's algorithm the body waits
    # for the client to acknowledge the headers, which it delays (up to 40 ms on Linux) on a
    # connection kept alive. A provider's server sends at once (TCP_NODELAY), as here
    disable_nagle_algorithm = True

    def handle(self):
        # requests one after the other on the same connection (``wsgiref`` serves a single one)
        BaseHTTPRequestHandler.handle(self)

    def handle_one_request(self):
        """``WSGIRequestHandler.handle`` for one request of a kept-alive connection: its body
        read whole first, so that what the application leaves unread is not taken for the next
        request."""
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except (TimeoutError, ConnectionError):  # idle for KEEP_ALIVE_SECONDS, or reset by the client
            self.close_connection = True
            return
        if not self.raw_requestline:  # the client closed it
            self.close_connection = True
            return
        if len(self.raw_requestline) > 65536:
            self.requestline, self.request_version, self.command = "", "", ""
            self.send_error(414)
            return
        if not self.parse_request():  # an error was sent, and the connection is closed
            return
        body = self.rfile
        if "Transfer-Encoding" in self.headers:  # no length to read up to: this request is the last
            self.close_connection = True
        else:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                self.send_error(400, "Content-Length is not a number")
                return
            body = io.BytesIO(self.rfile.read(length))
        handler = KeepAliveServerHandler(body, self.wfile, self.get_stderr(), self.get_environ(), multithread=False)
        handler.request_handler = self  # for its log line
        handler.run(self.server.get_app())
        self.wfile.flush()

    def get_environ(self):
        environ = super().get_environ()
        environ["RAW_URI"] = self.path  # the path as received, percent-encoding kept (as gunicorn does)
        return environ

    def log_request(self, code="-", size="-"):
        path = self.path.split("?", 1)[0] if hasattr(self, "path") else "-"
        logger.info("%s %s %s %s", self.client_address[0], getattr(self, "command", "-"), path, code)

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        logger.warning("%s %s", self.client_address[0], format % args)


def make_sandbox_server(host: str = "127.0.0.1", port: int = 8001, app: App | None = None) -> WSGIServer:
    server = make_server(host, port, app or create_app(), server_class=ThreadingWSGIServer,
                         handler_class=QuietRequestHandler)
    return server


def serve(host: str = "127.0.0.1", port: int = 8001, app: App | None = None) -> None:
    """Serve until KeyboardInterrupt (``__main__`` turns SIGTERM into one)."""
    server = make_sandbox_server(host, port, app)
    logger.info("sandbox listening on http://%s:%s (dashboard: /_sandbox/)", host, server.server_port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        logger.info("sandbox stopping")
    finally:
        server.application.close()
        server.server_close()


def start_in_thread(port: int = 0, host: str = "127.0.0.1", app: App | None = None):
    """Start a sandbox in a daemon thread; returns ``(base_url, stop)``. Port 0 picks a free port."""
    server = make_sandbox_server(host, port, app)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="sandbox", daemon=True)
    thread.start()

    def stop() -> None:
        server.application.close()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return f"http://{host}:{server.server_port}", stop
