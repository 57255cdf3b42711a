"""The sandbox WSGI application: simulators mounted by name, control API under ``/_sandbox/``."""

from __future__ import annotations

import json
import threading

import importlib
import os

from .control import ControlPanel
from .core import Clock, Outbox, Request, Response, Simulator

# The simulators mounted by default; ``SANDBOX_SIMULATORS`` (comma-separated dotted paths) lists
# others, e.g. the twin of a provider that lives in a package of its own.
BUILT_IN_SIMULATORS = (
    "provisioning.sandbox.snaptrade.SnapTradeSimulator",
    "provisioning.sandbox.kandy.KandySimulator",
    "provisioning.sandbox.xhoppe.XhoppeSimulator",
    "provisioning.sandbox.flyve.FlyveSimulator",
    "provisioning.sandbox.scim.ScimSimulator",
)


def simulator_classes() -> list[type[Simulator]]:
    """The simulator classes to mount, from ``SANDBOX_SIMULATORS`` (default: the built-in ones)."""
    configured = [path.strip() for path in os.environ.get("SANDBOX_SIMULATORS", "").split(",") if path.strip()]
    classes = []
    for path in configured or BUILT_IN_SIMULATORS:
        module, _, name = path.rpartition(".")
        classes.append(getattr(importlib.import_module(module), name))
    return classes


class App:
    """WSGI callable. Control endpoints are never subject to fault injection."""

    def __init__(self, simulators: list[Simulator], *, clock: Clock, outbox: Outbox, stopping: threading.Event):
        self.clock = clock
        self.outbox = outbox
        self.stopping = stopping
        self.simulators = {sim.name: sim for sim in simulators}
        self.control = ControlPanel(self)

    def __getitem__(self, name: str) -> Simulator:
        return self.simulators[name]

    def __call__(self, environ, start_response):
        response = self.respond(Request.from_environ(environ))
        headers = [*response.headers.items(), ("Content-Length", str(len(response.body)))]
        start_response(response.status_line, headers)
        return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else response.body]

    def respond(self, request: Request) -> Response:
        mount = "/" + request.path.lstrip("/").split("/", 1)[0]
        if mount == "/_sandbox":
            return self.control.handle(request.mounted_at(mount))
        simulator = self.simulators.get(mount[1:])
        if simulator is not None:
            return simulator.handle(request.mounted_at(mount))
        if request.path == "/":
            return Response(status=302, headers={"Location": "/_sandbox/"})
        body = {"error": f"no simulator mounted at {mount}", "simulators": sorted(self.simulators)}
        return Response(json.dumps(body).encode(), 404, content_type="application/json")

    def reset(self) -> None:
        """Everything back to a clean start, clock included."""
        self.clock.set_offset(0)
        self.outbox.clear()
        for simulator in self.simulators.values():
            simulator.reset()

    def close(self) -> None:
        """Wake requests sleeping in injected faults (used on shutdown)."""
        self.stopping.set()


def create_app(simulators: list[type[Simulator]] | None = None, *, settings: dict[str, dict] | None = None) -> App:
    """Build the app with one shared clock and outbox; ``settings`` maps a simulator name to overrides."""
    clock, stopping = Clock(), threading.Event()
    outbox = Outbox(clock)
    classes = simulator_classes() if simulators is None else simulators
    settings = settings or {}
    unknown = set(settings) - {cls.name for cls in classes}
    if unknown:
        raise ValueError(f"settings for unknown simulators: {sorted(unknown)}")
    instances = [cls(clock=clock, outbox=outbox, stopping=stopping, settings=settings.get(cls.name)) for cls in classes]
    return App(instances, clock=clock, outbox=outbox, stopping=stopping)
