"""A throughput run that leaves operations unfinished keeps its processes' logs (they live in a
temporary folder that goes with the run), and a run that finishes everything keeps none."""

from benchmarks import throughput


def logs(tmp_path):
    (tmp_path / "run" / "scale-2-0").mkdir(parents=True)
    (tmp_path / "run" / "worker.log").write_text("worker said this")
    (tmp_path / "run" / "scale-2-0" / "worker.log").write_text("a scale worker said that")
    return tmp_path / "run"


def test_the_logs_of_a_run_with_unfinished_operations_are_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(throughput, "REPO", tmp_path / "repo")
    result = {"cpu": {"operations": 10, "unfinished": 0}, "scale": [{"workers": 2, "unfinished": 3}]}

    throughput.keep_logs_if_unfinished(result, logs(tmp_path), "local")

    [kept] = (tmp_path / "repo" / "var" / "bench").iterdir()
    assert kept.name.startswith("unfinished-") and kept.name.endswith("-local")
    assert (kept / "worker.log").read_text() == "worker said this"
    assert (kept / "scale-2-0" / "worker.log").read_text() == "a scale worker said that"


def test_a_run_that_finished_everything_keeps_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(throughput, "REPO", tmp_path / "repo")

    throughput.keep_logs_if_unfinished({"cpu": {"unfinished": 0}, "stack": "local"}, logs(tmp_path), "local")

    assert not (tmp_path / "repo").exists()


def test_a_worker_that_died_fails_the_memory_figure(tmp_path):
    """A dead worker reads 0 MB, under any goal: its unfinished operations fail the figure."""
    numbers = {"operations": 1000, "succeeded": 1000, "unfinished": 0, "max_http_in_flight": 20}
    result = {"pool": "threads", "concurrency": 16,
              "cpu": {**numbers, "cpu_ms_per_operation": 4.0, "cpu_ms_by_process": {}},
              "bound": {**numbers, "ops_per_second": 100.0},
              "memory": [{"operations": 5000, "rss_mb": 128.0, "unfinished": 0},
                         {"operations": 10000, "rss_mb": 0.0, "unfinished": 1000}]}

    memory = throughput.figures("local", result)[-1]

    assert memory["target"] == 5 and memory["ok"] is False
    assert "1,000 unfinished" in memory["detail"]
