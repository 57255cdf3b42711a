"""Target 2's figure is the median of three bound runs, and the table shows all three and what a
bare client gets from the sandbox: bound runs one after the other differ by up to 10 % on a 2-core
virtual machine, and the sandbox's own answers take a few milliseconds more than its latency."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from benchmarks import throughput


def bound(per_second, *, in_flight=20, unfinished=0):
    return {"operations": 1000, "succeeded": 1000 - unfinished, "unfinished": unfinished,
            "max_http_in_flight": in_flight, "ops_per_second": per_second}


def test_the_run_of_median_throughput_counts_and_every_run_is_kept(monkeypatch):
    runs = iter([bound(171.0), bound(186.0, in_flight=21), bound(180.5, unfinished=3)])
    labels = []

    def bound_run(sandbox, *, operations, timeout, latency_ms, cap, label, portal=None):
        labels.append(label)
        return next(runs)

    monkeypatch.setattr(throughput, "bound_run", bound_run)

    median = throughput.bound_median(None, runs=3, portal=None, operations=1000, timeout=60, latency_ms=100,
                                     cap=20, label="bound")

    assert median["ops_per_second"] == 180.5
    assert median["runs_per_second"] == [171.0, 186.0, 180.5]  # in the order they ran
    assert median["max_http_in_flight"] == 21  # a cap broken in any run breaks the figure
    assert median["unfinished"] == 3  # of all of them
    assert len(set(labels)) == 3  # each run at a connection of its own


def figures(bound_result, floor=None):
    result = {"pool": "threads", "concurrency": 16,
              "cpu": {"operations": 1000, "succeeded": 1000, "unfinished": 0, "cpu_ms_per_operation": 4.8,
                      "cpu_ms_by_process": {"worker": 4.0}},
              "bound": bound_result,
              "memory": [{"operations": 5000, "rss_mb": 128.0, "unfinished": 0},
                         {"operations": 10000, "rss_mb": 128.0, "unfinished": 0}]}
    if floor:
        result["bound_floor"] = floor
    [row] = [row for row in throughput.figures("production", result) if row["target"] == 2]
    return row


def test_the_figure_says_it_is_a_median_of_what_and_what_the_sandbox_allows():
    row = figures({**bound(182.0), "runs_per_second": [171.0, 186.0, 182.0]},
                  floor={"ops_per_second": 193.4, "answer_ms": 103.3})

    assert row["measured"] == 182.0 and row["ok"]
    assert "median of 3 runs (171 / 186 / 182/s), that one: 1000/1000 ok" in row["detail"]
    assert row["detail"].endswith("; a bare client of 20 threads gets 193/s from this sandbox (its answers take 103.3 ms)")


def test_a_cap_broken_in_any_run_fails_the_figure():
    row = figures({**bound(182.0, in_flight=21), "runs_per_second": [182.0, 182.0, 182.0]})

    assert not row["ok"]


class Slow(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    paths: list[str] = []

    def do_GET(self):
        self.paths.append(self.path)
        time.sleep(0.05)
        self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def slow_sandbox():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    faults = []
    yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_port}", faults=lambda **changes: faults.append(changes),
                          faults_set=faults)
    server.shutdown()
    server.server_close()


def test_the_floor_is_what_a_bare_client_gets_from_the_sandbox(slow_sandbox):
    floor = throughput.sandbox_floor(slow_sandbox, latency_ms=50, clients=4, seconds=0.5)

    assert slow_sandbox.faults_set == [{"latency_ms": 50}, {"latency_ms": 0}]  # and put back
    # a request SnapTrade's simulator answers after its latency, at the path the provider uses
    assert set(Slow.paths) == {"/snaptrade/snapTrade/listUsers"}
    assert 50 <= floor["answer_ms"] < 500
    # four clients, each a request per answer: about 4 / 50 ms, and never more
    assert 0 < floor["ops_per_second"] <= 4 / 0.05


def test_a_quick_run_says_it_is_short_and_which_run_is_the_figure():
    short = figures({**bound(127.0), "operations": 150, "succeeded": 150})
    full = figures({**bound(182.0), "runs_per_second": [171.0, 186.0, 182.0]})

    assert "; a short run (150 operations): its first and last rounds weigh more than in the full run's 3 of 1,000" in short["detail"]
    assert "short run" not in full["detail"]
