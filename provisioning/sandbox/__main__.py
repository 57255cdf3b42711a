"""``python -m provisioning.sandbox --host 127.0.0.1 --port 8001``: run the sandbox until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal

from .server import serve


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m provisioning.sandbox", description="Run the provider sandbox.")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _interrupt)
    serve(args.host, args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
