"""A GLPI + Flyve demo API faked with ``responses`` for the unit tests of providers/flyve.py.

Bodies are GLPI's golden shapes from the provider's documented contract: ``{"session_token": ...}``, 201
``{"id", "message"}`` with ``Location``, ``[{"<id>": true, "message": ""}]`` on PUT, empty
``killSession``, ``["ERROR_...", "message"]`` errors. ``FakeGlpi`` counts sessions so that tests
can prove every session is killed; the ``glpi`` fixture (tests/providers/conftest.py) registers it
on the ``http`` mock. A Flyve test module makes its ``connection`` fixture with ``flyve_connection()``.
"""

from __future__ import annotations

import io
import json
import re

import responses
from PIL import Image

from provisioning import services
from provisioning.models import Connection

BASE = "http://glpi.test/apirest.php"
USER_TOKEN = "USER-TOKEN-abcdef0123456789"
SESSION_TOKEN = "83af7e620c83a50a18d3eac2f6ed05a3ca0bea62"
TOKEN = "0a1b" * 16
STAFF = services.Requester("test:staff")


def jpeg(color=(200, 200, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (150, 40), color).save(out, "JPEG", quality=90)
    return out.getvalue()


class FakeGlpi:
    """Registers the happy path; ``answer(key, ...)`` replaces one endpoint's answer.

    Keys: ``init``, ``kill``, ``captcha``, ``image``, ``user``, ``validate``, ``config``.
    """

    URLS = {
        "init": (responses.GET, f"{BASE}/initSession"),
        "kill": (responses.GET, f"{BASE}/killSession"),
        "captcha": (responses.POST, f"{BASE}/PluginFlyvemdmdemoCaptcha"),
        "image": (responses.GET, re.compile(rf"{re.escape(BASE)}/PluginFlyvemdmdemoCaptcha/\d+\?alt=media$")),
        "user": (responses.POST, f"{BASE}/PluginFlyvemdmdemoUser"),
        "validate": (responses.PUT, re.compile(rf"{re.escape(BASE)}/PluginFlyvemdmdemoAccountvalidation/\d+$")),
        "config": (responses.GET, f"{BASE}/getGlpiConfig"),
    }

    def __init__(self, mock: responses.RequestsMock):
        self.mock = mock
        self.next_captcha = 3
        self.registered: dict[str, object] = {}
        self.answer("init", callback=self._init_session)
        self.answer("kill", body=b"", status=200, content_type="application/json")
        self.answer("captcha", callback=self._create_captcha)
        self.answer(
            "image",
            body=jpeg(),
            status=200,
            content_type="image/jpeg",
            headers={"Cache-control": "private, must-revalidate", "Pragma": "private"},
        )
        self.answer(
            "user",
            json={"id": 42, "message": ""},
            status=201,
            headers={"Location": f"{BASE}/PluginFlyvemdmdemoUser/42"},
        )
        self.answer("validate", json=[{"7": True, "message": ""}], status=200)
        self.answer(
            "config",
            json={
                "cfg_glpi": {
                    "use_password_security": 1,
                    "password_min_length": 24,
                    "password_need_number": 1,
                    "password_need_letter": 1,
                    "password_need_caps": 1,
                    "password_need_symbol": 1,
                    "version": "9.2.4",
                }
            },
        )

    def answer(self, key: str, *, callback=None, **response) -> None:
        """From now on, answer the endpoint ``key`` with ``response`` (status=, json=, body=...)."""
        method, url = self.URLS[key]
        if key in self.registered:
            self.mock.remove(self.registered[key])
        if callback is not None:
            self.registered[key] = self.mock.add_callback(method, url, callback=callback)
        else:
            self.registered[key] = self.mock.add(method, url, **response)

    def error(self, key: str, code: str, message: str, status: int = 400) -> None:
        self.answer(key, status=status, json=[code, message])

    def _init_session(self, request):
        return 200, {}, json.dumps({"session_token": SESSION_TOKEN})

    def _create_captcha(self, request):
        captcha_id, self.next_captcha = self.next_captcha, self.next_captcha + 1
        headers = {"Location": f"{BASE}/PluginFlyvemdmdemoCaptcha/{captcha_id}"}
        return 201, headers, json.dumps({"id": captcha_id, "message": ""})

    # --- what was sent --------------------------------------------------------------------------
    def requests(self, method: str | None = None, endpoint: str | None = None) -> list:
        found = []
        for call in self.mock.calls:
            path = call.request.url.split("?", 1)[0][len(BASE):]
            if (method is None or call.request.method == method) and (endpoint is None or path == f"/{endpoint}"):
                found.append(call.request)
        return found

    def body(self, method: str, endpoint: str) -> dict:
        return json.loads(self.requests(method, endpoint)[-1].body)

    @property
    def sessions_opened(self) -> int:
        return sum(
            1
            for call in self.mock.calls
            if call.request.url.endswith("/initSession") and call.response is not None and call.response.status_code == 200
        )

    @property
    def sessions_killed(self) -> int:
        return len(self.requests("GET", "killSession"))


def flyve_connection() -> Connection:
    """A Flyve connection to the faked GLPI (``BASE``) with the user token ``USER_TOKEN``."""
    return Connection.objects.create(
        provider="flyve", name="flyve demo", base_url=BASE, credentials={"user_token": USER_TOKEN}
    )


def run(kind: str, *, account=None, connection=None, input=None):
    """Request an operation and run one attempt of it, as a worker would; the operation, refreshed."""
    operation = services.operation_request(
        kind=kind,
        account=account,
        connection=connection,
        input=input,
        requested_by=STAFF,
    )
    services.operation_execute(operation_id=operation.pk)
    operation.refresh_from_db()
    if account is not None:
        account.refresh_from_db()
    return operation
