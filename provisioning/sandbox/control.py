"""Control API and dashboard under ``/_sandbox/`` (unauthenticated: the sandbox binds to loopback).

    GET    /_sandbox/                  HTML dashboard (counters, users, outbox)
    GET    /_sandbox/healthz           {"ok": true}
    GET    /_sandbox/state             {simulator name: snapshot}
    GET    /_sandbox/state/<name>      one snapshot
    POST   /_sandbox/reset             everything: state, faults, settings, counters, outbox, clock
    POST   /_sandbox/<name>/reset      one simulator (and its outbox messages)
    GET    /_sandbox/<name>/faults     current faults
    POST   /_sandbox/<name>/faults     merge faults (see faults.py); fail_next entries are appended
    DELETE /_sandbox/<name>/faults     clear faults
    GET    /_sandbox/<name>/settings   runtime settings (secrets masked)
    POST   /_sandbox/<name>/settings   merge settings, e.g. {"delete_delay_seconds": 0}
    GET    /_sandbox/clock             {"offset_seconds", "now", "now_iso"}
    POST   /_sandbox/clock             {"offset_seconds": N} or {"advance_seconds": N}
    GET    /_sandbox/outbox            messages, newest last; ?simulator=&to= filter
    DELETE /_sandbox/outbox            clear the outbox

Errors answer ``{"error": "<message>"}`` with 400 (bad input), 404 or 405.
"""

from __future__ import annotations

import html
import json
import typing

from .core import HTTPError, Request, Response, Router, route

if typing.TYPE_CHECKING:
    from .app import App


class ControlPanel(Router):
    def __init__(self, app: App):
        self.app = app

    def handle(self, request: Request) -> Response:
        found, path_known = self.match(request)
        try:
            if found is None:
                raise HTTPError(405 if path_known else 404, "method not allowed" if path_known else "not found")
            return getattr(self, found.handler)(request)
        except HTTPError as exc:
            return Response.json({"error": exc.message}, exc.status)
        except ValueError as exc:
            return Response.json({"error": str(exc)}, 400)

    def _simulator(self, request: Request):
        name = request.params["name"]
        if name not in self.app.simulators:
            raise HTTPError(404, f"no simulator named {name!r}; known: {sorted(self.app.simulators)}")
        return self.app.simulators[name]

    @staticmethod
    def _object(request: Request) -> dict:
        body = request.json(empty={})
        if not isinstance(body, dict):
            raise HTTPError(400, "expected a JSON object")
        return body

    @route("GET", "/healthz")
    def healthz(self, request):
        return Response.json({"ok": True})

    @route("GET", "/state")
    def state(self, request):
        return Response.json({name: sim.snapshot() for name, sim in self.app.simulators.items()})

    @route("GET", "/state/<name>")
    def simulator_state(self, request):
        return Response.json(self._simulator(request).snapshot())

    @route("POST", "/reset")
    def reset(self, request):
        self.app.reset()
        return Response.json({"reset": sorted(self.app.simulators)})

    @route("POST", "/<name>/reset")
    def simulator_reset(self, request):
        simulator = self._simulator(request)
        simulator.reset()
        return Response.json({"reset": [simulator.name]})

    @route("GET", "/<name>/faults")
    def faults(self, request):
        return Response.json(self._simulator(request).faults.to_dict())

    @route("POST", "/<name>/faults")
    def set_faults(self, request):
        simulator = self._simulator(request)
        return Response.json(simulator.faults.update(self._object(request)))

    @route("DELETE", "/<name>/faults")
    def clear_faults(self, request):
        simulator = self._simulator(request)
        simulator.faults.clear()
        return Response.json(simulator.faults.to_dict())

    @route("GET", "/<name>/settings")
    def settings(self, request):
        simulator = self._simulator(request)
        with simulator.lock:
            return Response.json(simulator.public_settings())

    @route("POST", "/<name>/settings")
    def set_settings(self, request):
        return Response.json(self._simulator(request).configure(self._object(request)))

    @route("GET", "/clock")
    def clock(self, request):
        clock = self.app.clock
        return Response.json({"offset_seconds": clock.offset, "now": clock.now(), "now_iso": clock.isoformat()})

    @route("POST", "/clock")
    def set_clock(self, request):
        body = self._object(request)
        values = {k: body[k] for k in ("offset_seconds", "advance_seconds") if k in body}
        if len(values) != 1 or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in values.values()):
            raise HTTPError(400, 'send a number as exactly one of "offset_seconds", "advance_seconds"')
        if "offset_seconds" in values:
            self.app.clock.set_offset(values["offset_seconds"])
        else:
            self.app.clock.advance(values["advance_seconds"])
        return self.clock(request)

    @route("GET", "/outbox")
    def outbox(self, request):
        return Response.json(self.app.outbox.messages(simulator=request.arg("simulator"), to=request.arg("to")))

    @route("DELETE", "/outbox")
    def clear_outbox(self, request):
        self.app.outbox.clear()
        return Response.json([])

    @route("GET", "/")
    def dashboard(self, request):
        return Response.html(render_dashboard(self.app))


def _table(headers: list[str], rows: list[list]) -> str:
    if not rows:
        return "<p><em>none</em></p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_dashboard(app: App) -> str:
    sections = []
    for name, simulator in app.simulators.items():
        snap = simulator.snapshot()
        counters = [[key, ", ".join(f"{status}: {n}" for status, n in statuses.items())]
                    for key, statuses in snap.pop("counters").items()]
        details = {k: v for k, v in snap.items() if k not in ("name", "requests_total", "users")}
        users = snap.get("users")
        sections.append(
            f"<h2>{html.escape(name)} <small>(/{html.escape(name)}, {snap['requests_total']} requests)</small></h2>"
            f"<h3>Requests by route</h3>{_table(['route', 'statuses'], counters)}"
            + (f"<h3>Users ({len(users)})</h3>{_table(['user'], [[u] for u in users])}" if users is not None else "")
            + f"<details><summary>State, faults and settings</summary>"
              f"<pre>{html.escape(json.dumps(details, indent=2, sort_keys=True))}</pre></details>")
    messages = app.outbox.messages()[-50:]
    outbox_rows = [[m["id"], m["sent_at"], m["simulator"], m["channel"], m["to"], m["subject"], m["body"]]
                   for m in reversed(messages)]
    return (
        "<!doctype html><html><head><meta charset='utf-8'><meta http-equiv='refresh' content='5'>"
        "<title>Provider sandbox</title><style>body{font-family:sans-serif;margin:2em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}</style>"
        "</head><body><h1>Provider sandbox</h1>"
        f"<p>Sandbox clock: {html.escape(app.clock.isoformat())} (offset {app.clock.offset:+.0f} s). "
        "JSON: <a href='/_sandbox/state'>state</a>, <a href='/_sandbox/outbox'>outbox</a>.</p>"
        + "".join(sections)
        + f"<h2>Outbox <small>(latest {len(outbox_rows)}, newest first)</small></h2>"
        + _table(["id", "sent at", "simulator", "channel", "to", "subject", "body"], outbox_rows)
        + "</body></html>"
    )
