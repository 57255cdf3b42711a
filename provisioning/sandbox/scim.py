"""A SCIM 2.0 service provider (RFC 7643/7644), mounted at ``/scim``; the API is at ``/scim/v2``.

Not a simulation of our own: every SCIM request is served by ``scim2-server``'s WSGI application
(its in-memory storage, the RFC 7643 schemas and resource types, User and Group), which this
simulator wraps so that the sandbox's fault injection, rate limit and counters apply to it as to
every other simulator. A sandbox ``Request`` is turned back into a WSGI environ (``SCRIPT_NAME``
is the mount, so ``meta.location`` names ``http://<sandbox>/scim/v2/Users/<id>``) and
scim2-server's answer into a ``Response``.

The server demands ``Authorization: Bearer <token>`` with the sandbox's demo token
(``SANDBOX_SCIM_BEARER_TOKEN``, see ``defaults.py``) on everything but
``/ServiceProviderConfig``, which RFC 7643 §5 leaves open and which announces the bearer token
scheme. ``reset()`` builds a fresh, empty server.

Counters are keyed by method and path with the resource id replaced (``POST /v2/Users``,
``GET /v2/Users/<id>``, ``PATCH /v2/Users/<id>``). Settings (``POST /_sandbox/scim/settings``):
``bearer_token``, and ``max_results`` (the ``filter.maxResults`` announced and enforced: how many
resources one list answer holds at most).
"""

from __future__ import annotations

import io
import re
import typing
import urllib.parse

from scim2_models import ServiceProviderConfig
from scim2_server.memory import InMemoryStorage
from scim2_server.service import ScimService
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME, BearerTokenApplication
from scim2_server.utils import load_default_resource_types, load_default_schemas, load_default_service_provider_config
from scim2_models import ScimProvider

from .core import Request, Response, Route, Simulator

API = "/v2"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
SCIM_MEDIA_TYPE = "application/scim+json"
# "/v2/Users/2819c223-..." -> "/v2/Users/<id>" (counters, and the pattern a route reports)
RESOURCE_PATH = re.compile(r"^(/v2/[A-Za-z]+)/(?!\.search$)[^/]+$")


class ScimSimulator(Simulator):
    name = "scim"
    demo_credentials = {"bearer_token": ("SANDBOX_SCIM_BEARER_TOKEN", "sandbox-scim-token")}
    default_settings = {"bearer_token": "", "max_results": 1000}
    secret_settings = frozenset({"bearer_token"})

    def initial_settings(self) -> dict:
        return {**self.default_settings, **self.credentials()}

    def reset_state(self) -> None:
        self.storage = InMemoryStorage()
        self.app = self._application(self.storage)

    def _application(self, storage: InMemoryStorage) -> BearerTokenApplication:
        config: ServiceProviderConfig = load_default_service_provider_config()
        config.filter.max_results = self.settings["max_results"]
        config.authentication_schemes = [*(config.authentication_schemes or []), BEARER_TOKEN_SCHEME]
        provider = ScimProvider.from_discovery(
            load_default_schemas().values(), load_default_resource_types().values(), config=config
        )
        token = self.settings["bearer_token"]
        return BearerTokenApplication(storage, provider, service=ScimService(provider), bearer_tokens=[token])

    def configure(self, changes: dict) -> dict:
        """New settings take effect at once; the users stay."""
        with self.lock:
            public = super().configure(changes)
            self.app = self._application(self.storage)
            return public

    def state(self) -> dict:
        with self.lock:
            users = [
                {"id": r.id, "userName": r.user_name, "externalId": r.external_id, "active": r.active}
                for r in self.storage.resources
                if "urn:ietf:params:scim:schemas:core:2.0:User" in (r.schemas or [])
            ]
        return {"users": sorted(users, key=lambda u: u["userName"] or ""), "number_of_users": len(users)}

    # -- errors in SCIM's shape (RFC 7644 §3.12) -----------------------------------------------

    def error_response(self, status, message, *, code=None, headers=None) -> Response:
        body = {"schemas": [ERROR_SCHEMA], "status": str(status), "detail": message}
        if code is not None:
            body["scimType"] = code
        return Response.json(body, status, headers)

    def finalize_response(self, request: Request, response: Response) -> Response:
        if response.headers.get("Content-Type", "").startswith("application/json"):
            response.headers["Content-Type"] = SCIM_MEDIA_TYPE
        return response

    # -- routing: everything under /v2 goes to scim2-server ------------------------------------

    def match(self, request: Request) -> tuple[Route | None, bool]:
        path = request.path.rstrip("/") or "/"
        if path != API and not path.startswith(API + "/"):
            return None, False
        pattern = RESOURCE_PATH.sub(r"\1/<id>", path)
        return Route(request.method, pattern, re.compile(""), "serve"), True

    def serve(self, request: Request) -> Response:
        captured: dict[str, typing.Any] = {}

        def start_response(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers

        body = b"".join(self.app(self._environ(request), start_response))
        headers = {k: v for k, v in captured["headers"] if k.lower() != "content-length"}
        content_type = headers.pop("Content-Type", SCIM_MEDIA_TYPE)
        return Response(body, int(captured["status"].split(" ", 1)[0]), headers, content_type)

    @staticmethod
    def _environ(request: Request) -> dict:
        """The WSGI environ of ``request`` as scim2-server should see it: mounted at ``/scim``."""
        root = urllib.parse.urlsplit(request.root_url)
        environ = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": request.mount,
            "PATH_INFO": request.path,
            "QUERY_STRING": request.query_string,
            "SERVER_NAME": root.hostname or "127.0.0.1",
            "SERVER_PORT": str(root.port or (443 if root.scheme == "https" else 80)),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": request.client_ip,
            "HTTP_HOST": root.netloc,
            "wsgi.url_scheme": root.scheme or "http",
            "wsgi.input": io.BytesIO(request.body),
            "wsgi.errors": io.StringIO(),
            "wsgi.version": (1, 0),
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "CONTENT_LENGTH": str(len(request.body)) if request.body else "",
        }
        for name, value in request.headers.items():
            if name == "content-type":
                environ["CONTENT_TYPE"] = value
            elif name not in ("content-length", "host"):
                environ["HTTP_" + name.upper().replace("-", "_")] = value
        return environ
