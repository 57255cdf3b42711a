"""The sandbox WSGI application: simulators mounted by name, control API under ``/_sandbox/``."""

from __future__ import annotations

import json
import threading

from .control import ControlPanel
from .core import Clock, Outbox, Request, Response, Simulator
from .flyve import FlyveSimulator
from .kandy import KandySimulator
from .scim import ScimSimulator
from .snaptrade import SnapTradeSimulator
from .xhoppe import XhoppeSimulator

# The registry: add a simulator class here to mount it at /<its name>.
SIMULATORS: list[type[Simulator]] = [
    SnapTradeSimulator,
    KandySimulator,
    XhoppeSimulator,
    FlyveSimulator,
    ScimSimulator,
]


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
    classes = SIMULATORS if simulators is None else simulators
    settings = settings or {}
    unknown = set(settings) - {cls.name for cls in classes}
    if unknown:
        raise ValueError(f"settings for unknown simulators: {sorted(unknown)}")
    instances = [cls(clock=clock, outbox=outbox, stopping=stopping, settings=settings.get(cls.name)) for cls in classes]
    return App(instances, clock=clock, outbox=outbox, stopping=stopping)
