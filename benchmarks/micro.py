"""Micro-benchmarks of the per-request work: SnapTrade signing, redaction, Fernet.

``python -m benchmarks.micro --out FILE [--quick]`` (run by ``python -m benchmarks``) writes
``[{"name", "detail", "us_per_op", "ops_per_second", "repeats"}]``: each function is timed like
``timeit`` (a loop count from ``autorange``, then repeats) and the median repeat is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import timeit
import uuid
from pathlib import Path

from .environment import bench_environment


def measure(name: str, detail: str, func, *, repeats: int) -> dict:
    timer = timeit.Timer(func)
    number, _ = timer.autorange()  # loops that take at least 0.2 s
    seconds = statistics.median(timer.repeat(repeat=repeats, number=number)) / number
    return {
        "name": name,
        "detail": detail,
        "us_per_op": round(seconds * 1e6, 2),
        "ops_per_second": round(1 / seconds),
        "repeats": repeats,
    }


def sandbox_like_connection():
    from provisioning.models import Connection
    from provisioning.providers.snaptrade import SnapTradeProvider
    from provisioning.sandbox.defaults import sandbox_credentials

    fields = SnapTradeProvider.sandbox_connection(
        sandbox_url="http://127.0.0.1:8001", credentials=sandbox_credentials()["snaptrade"]
    )
    return Connection(provider="snaptrade", name="bench", **fields)  # never saved


def signing(repeats: int) -> list[dict]:
    import requests

    from provisioning.providers.snaptrade import REGISTER_USER, SnapTradeClient, request_signature

    client = SnapTradeClient(sandbox_like_connection())
    body = {"userId": f"portal-bench-m{uuid.uuid4().hex[:6]}-c1"}
    prepared = client.session.prepare_request(
        requests.Request("POST", client.base_url + REGISTER_USER, json=body)
    )
    query = "clientId=PORTAL-SANDBOX&timestamp=1700000000"
    key = client.credentials["consumer_key"]
    return [
        measure(
            "snaptrade request_signature",
            "HMAC-SHA256 over the canonical JSON of a registerUser request",
            lambda: request_signature(consumer_key=key, path=REGISTER_USER, query=query, content=body),
            repeats=repeats,
        ),
        measure(
            "snaptrade authenticate",
            "the client hook on a prepared registerUser request (copied each time)",
            lambda: client.authenticate(prepared.copy()),
            repeats=repeats,
        ),
    ]


def redaction(repeats: int) -> dict:
    from provisioning.providers.http import ALWAYS_SECRET, Redactor

    user_secret = str(uuid.uuid4())
    redactor = Redactor(ALWAYS_SECRET | {"usersecret", "consumerkey"})
    redactor.add_values("PORTAL-SANDBOX", "sandbox-consumer-key", user_secret)
    body = json.dumps(
        {
            "userId": "portal-bench-m42-c1",
            "userSecret": user_secret,
            "redirectURI": f"http://127.0.0.1:8001/snaptrade/connect?token={uuid.uuid4()}&secret={user_secret}",
            "sessionId": str(uuid.uuid4()),
            "users": [f"portal-bench-m{i}-c1" for i in range(20)],
            "meta": {"version": "151", "online": True, "note": f"echo of {user_secret}"},
        }
    ).encode()
    return measure(
        "Redactor.body",
        f"a {len(body)}-byte JSON answer with 3 known secret values",
        lambda: redactor.body(body, "application/json"),
        repeats=repeats,
    )


def encryption(repeats: int) -> dict:
    from provisioning.fields import EncryptedJSONField

    field = EncryptedJSONField()
    secrets = {"user_secret": str(uuid.uuid4())}
    return measure(
        "Fernet encrypt+decrypt",
        "an account's secrets as the model field stores and loads them (JSON + MultiFernet)",
        lambda: field.from_db_value(field.get_prep_value(secrets), None, None),
        repeats=repeats,
    )


def run(*, quick: bool) -> list[dict]:
    repeats = 3 if quick else 7
    return [*signing(repeats), redaction(repeats), encryption(repeats)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.micro")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp:
        os.environ.update(bench_environment(Path(tmp), production=False))
        import django

        django.setup()
        args.out.write_text(json.dumps(run(quick=args.quick), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
