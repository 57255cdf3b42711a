import http.server
import json
import threading

import pytest


class Receiver:
    """A real HTTP server on loopback, in a thread: records every request, answers ``status``."""

    def __init__(self):
        self.requests: list[dict] = []
        self.status = 204
        self.headers: dict[str, str] = {}
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self.send_response(receiver.status)
                for name, value in receiver.headers.items():
                    self.send_header(name, value)
                payload = b"ok " + b"x" * 2000
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def provisioning_settings(settings):
    """``provisioning_settings(NAME=value, ...)``: change PROVISIONING entries for one test."""

    def change(**values):
        settings.PROVISIONING = {**settings.PROVISIONING, **values}

    return change


@pytest.fixture
def loopback_allowed(provisioning_settings):
    provisioning_settings(WEBHOOKS_ALLOW_HTTP_LOOPBACK=True)
