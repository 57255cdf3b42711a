"""The throughput figures say how much of the cores the hypervisor gave to other machines while
they ran ("steal"): on a virtual machine it moves from none to a third within minutes, and bound
runs of the same code then read 138-163/s instead of 172-185/s."""

from collections import namedtuple

import pytest

from benchmarks import throughput

LinuxTimes = namedtuple("LinuxTimes", "user nice system idle iowait irq softirq steal guest guest_nice")
OtherTimes = namedtuple("OtherTimes", "user nice system idle")


def readings(monkeypatch, *times):
    times = iter(times)
    monkeypatch.setattr(throughput.psutil, "cpu_times", lambda: next(times))


def test_steal_is_the_share_of_all_the_cores_time_in_between(monkeypatch):
    readings(monkeypatch,
             LinuxTimes(100, 0, 20, 500, 5, 0, 1, 10, 7, 0),
             # 100 s more in all: 40 user (3 of them a guest's, already in user), 10 system,
             # 25 idle and 25 stolen
             LinuxTimes(140, 0, 30, 525, 5, 0, 1, 35, 10, 0))

    assert throughput.Steal().percent() == 25.0


def test_a_system_that_does_not_count_steal_reads_none(monkeypatch):
    readings(monkeypatch, OtherTimes(1, 0, 1, 1), OtherTimes(2, 0, 2, 2))

    assert throughput.Steal().percent() is None


def result(bound: dict, *, floor: dict | None = None, scale: list | None = None) -> dict:
    done = {"operations": 1000, "succeeded": 1000, "unfinished": 0, "max_http_in_flight": 20}
    return {"pool": "threads", "concurrency": 16,
            "cpu": {**done, "cpu_ms_per_operation": 4.8, "cpu_ms_by_process": {"worker": 4.0}},
            "bound": {**done, "ops_per_second": 176.0, **bound},
            "bound_floor": floor,
            "scale": [{**done, "workers": n, **run} for n, run in zip((1, 2, 4), scale)] if scale else None,
            "memory": [{"operations": 5000, "rss_mb": 128.0, "unfinished": 0},
                       {"operations": 10000, "rss_mb": 128.0, "unfinished": 0}]}


def rows(result_: dict, target: int) -> list[dict]:
    return [row for row in throughput.figures("production", result_) if row["target"] == target]


def test_the_bound_figure_gives_the_steal_of_each_of_its_runs_and_of_the_floor():
    [row] = rows(result({"runs_per_second": [181.2, 163.0, 138.1], "runs_steal_percent": [1.5, 22.4, 31.0]},
                        floor={"ops_per_second": 185.0, "answer_ms": 104.2, "steal_percent": 3.0}), 2)

    assert "in flight; the hypervisor took 2 / 22 / 31 % of the cores in its 3 runs (steal); a bare client" in row["detail"]
    assert row["detail"].endswith("(its answers take 104.2 ms; the hypervisor took 3 % of the cores (steal))")


def test_a_single_run_says_its_own_steal():
    [row] = rows(result({"steal_percent": 12.0}), 2)

    assert row["detail"].endswith("at most 20 in flight; the hypervisor took 12 % of the cores (steal)")


@pytest.mark.parametrize("steal", [None, 4.0])
def test_each_scale_out_point_says_its_steal_when_it_was_read(steal):
    points = rows(result({}, scale=[{"ops_per_second": each, "steal_percent": steal} for each in (38.0, 75.0, 138.0)]), 4)

    assert len(points) == 3
    for point in points:
        assert ("hypervisor" in point["detail"]) == (steal is not None)
        if steal is not None:
            assert point["detail"].endswith("; the hypervisor took 4 % of the cores (steal)")
