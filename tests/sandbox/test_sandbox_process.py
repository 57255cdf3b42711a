"""``python -m provisioning.sandbox`` serves until SIGTERM, then exits cleanly without logging secrets."""

import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def stderr_of(log) -> str:
    """What the process wrote to ``log`` (a file) so far."""
    log.seek(0)
    return log.read()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_runs_as_a_process_and_stops_on_sigterm():
    port = free_port()
    log = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen([sys.executable, "-m", "provisioning.sandbox", "--port", str(port)], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=log, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                health = requests.get(url + "/_sandbox/healthz", timeout=1)
                break
            except requests.ConnectionError:
                assert process.poll() is None and time.monotonic() < deadline, "sandbox did not start"
                time.sleep(0.05)
        assert health.json() == {"ok": True}
        requests.post(url + "/snaptrade/snapTrade/login?userId=u&userSecret=TOPSECRET", timeout=5)
        # the line is written once the answer is sent: the client may read it first
        deadline = time.monotonic() + 10
        while "snapTrade/login" not in stderr_of(log) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    stderr = stderr_of(log)
    assert process.returncode == 0
    assert "POST /snaptrade/snapTrade/login 401" in stderr
    assert "TOPSECRET" not in stderr
