"""Serve the sandbox with the stdlib: a threading ``wsgiref`` server.

Logs one line per request at INFO (method, path without query, status): never query strings,
bodies or headers, which carry secrets and signatures.
"""

from __future__ import annotations

import logging
import socketserver
import threading
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from .app import App, create_app

logger = logging.getLogger("provisioning.sandbox.server")


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    # the listen backlog of a real server (socketserver's default is 5): each request is a new
    # connection here (HTTP/1.0), and a worker's call threads open dozens at once; beyond the
    # backlog the kernel drops them, the client waits 1, 3, 7 s to retry, and a connect timeout
    # would count toward quarantining the connection: a fault no provider showed
    request_queue_size = 1024


class QuietRequestHandler(WSGIRequestHandler):
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
