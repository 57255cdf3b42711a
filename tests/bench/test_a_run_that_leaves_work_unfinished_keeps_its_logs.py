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
