"""Target 2's figure says how busy the cores were during the run and what each process spent per
operation, the sandbox's too: a throughput held below its bound with the cores nearly all busy is
held by the machine, not by the provider (or the portal's caps)."""

import os
import time
from types import SimpleNamespace

from benchmarks import throughput


def busy_for(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_usage_reads_the_cpu_each_process_spent_per_operation():
    me = os.getpid()
    usage = throughput.Usage(throughput.Portal({"worker": me}), SimpleNamespace(process=SimpleNamespace(pid=me)))

    busy_for(0.2)
    spent = usage.per_operation(10)

    # 200 ms over 10 operations, read in clock ticks of 10 ms (a reading may be short by one)
    assert spent["cpu_ms_by_process"]["worker"] >= 18
    assert spent["sandbox_cpu_ms"] >= 18  # the same process, read as the sandbox here
    assert 0 < spent["cores_busy_percent"] <= 100


def test_the_figure_carries_the_usage_when_it_was_read():
    numbers = {"operations": 1000, "succeeded": 1000, "unfinished": 0, "max_http_in_flight": 20}
    usage = {"cores_busy_percent": 84.2, "cpu_ms_by_process": {"beat": 0.0, "worker 1": 3.81, "worker 2": 3.7},
             "sandbox_cpu_ms": 1.04}
    result = {"pool": "threads", "concurrency": 16,
              "cpu": {"operations": 1000, "succeeded": 1000, "unfinished": 0, "cpu_ms_per_operation": 4.8,
                      "cpu_ms_by_process": {"worker": 4.0}},
              "bound": {**numbers, "ops_per_second": 150.0, "usage": usage},
              "memory": [{"operations": 5000, "rss_mb": 128.0, "unfinished": 0},
                         {"operations": 10000, "rss_mb": 128.0, "unfinished": 0}]}

    [row] = [row for row in throughput.figures("production", result) if row["target"] == 2]

    assert row["detail"].endswith(
        "; meanwhile the cores 84 % busy (steal included), ms CPU/op: beat 0.0, worker 1 3.8, worker 2 3.7, sandbox 1.0")

    del result["bound"]["usage"]  # a run that did not read it says nothing of it
    [row] = [row for row in throughput.figures("production", result) if row["target"] == 2]
    assert "busy" not in row["detail"]
