"""``python -m benchmarks``: every child's "figures" rows in one table, written with the machine;
a benchmark module missing from the checkout is skipped with a message, not a failure."""

import json
import sys

from benchmarks import __main__ as bench
from benchmarks.report import figures_table

ROW = {"target": 3, "figure": "enqueue 10,000: API", "goal": "< 2 s", "measured": 1.5, "unit": "s",
       "ratio": 0.75, "ok": True, "detail": "median of 3"}


def test_the_table_lists_each_figure_by_target_with_its_goal_ratio_and_verdict():
    table = figures_table([{**ROW, "target": 6, "figure": "admin p99", "ok": False, "ratio": 1.7}, ROW])
    lines = table.splitlines()
    assert lines[0].split() == ["target", "figure", "goal", "measured", "ratio", "ok"]
    assert lines[2].startswith("3 ") and "1.50 s" in lines[2] and "0.75" in lines[2] and lines[2].endswith("yes")
    assert lines[3].strip() == "median of 3"
    assert lines[4].startswith("6 ") and lines[4].endswith("NO")


def test_children_are_run_their_figures_collected_and_a_missing_module_skipped(tmp_path, monkeypatch, capsys):
    child = tmp_path / "fake_child.py"
    child.write_text(
        "import json, sys\n"
        f"rows = [{ROW!r}]\n"
        "out = sys.argv[sys.argv.index('--out') + 1]\n"
        "import os\n"
        "json.dump({'figures': rows, 'quick': '--quick' in sys.argv,\n"
        "           'budget': os.environ.get('BENCH_BUDGET_SECONDS')}, open(out, 'w'))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setattr(bench, "CHILDREN", [
        bench.Child("fake", "fake_child", bench._quick, services=False, budget=60, quick_budget=60),
        bench.Child("absent", "benchmarks.no_such_benchmark", bench._quick, services=False, budget=60, quick_budget=60),
    ])
    monkeypatch.setattr(bench, "PYTHON", sys.executable)
    monkeypatch.setattr(bench, "REPO", tmp_path)

    assert bench.main(["--quick"]) == 0

    printed = capsys.readouterr().out
    assert "skipping absent: benchmarks.no_such_benchmark is not in this checkout" in printed
    assert "enqueue 10,000: API" in printed
    written = list((tmp_path / "var" / "bench").glob("*.json"))
    assert len(written) == 1
    results = json.loads(written[0].read_text())
    assert results["figures"] == [{**ROW, "source": "fake"}]
    assert results["children"]["fake"]["result"]["quick"] is True
    assert 0 < float(results["children"]["fake"]["result"]["budget"]) <= bench.QUICK_SECONDS
    assert {"cores", "cpu", "memory_gb", "os", "python", "postgresql", "redis"} <= set(results["machine"])
    before, after = results["machine"]["reference_loop_seconds"]  # the machine's speed, at both ends
    assert 0 < before < 30 and 0 < after < 30
    text = written[0].with_suffix(".txt").read_text()
    assert "enqueue 10,000: API" in text
    assert f"reference loop (2M additions in Python) {before:.3f} / {after:.3f} s" in text


def test_quick_skips_the_scale_benchmark_until_its_data_set_is_made(tmp_path, monkeypatch):
    """--quick cannot make the 1M-account data set within its two minutes: it says how to."""
    import argparse

    from benchmarks import __main__ as harness
    from benchmarks import scale

    monkeypatch.setattr(scale, "FOLDER", tmp_path / "scale-pg")
    monkeypatch.setattr(harness, "production_unavailable", lambda: None)
    child = next(child for child in harness.CHILDREN if child.name == "scale")
    quick = argparse.Namespace(quick=True, no_production=False)
    assert "not made yet" in harness.why_not(child, quick, time_left=100)
    assert harness.why_not(child, argparse.Namespace(quick=False, no_production=False), time_left=100) is None
    scale.made_marker().touch()
    assert harness.why_not(child, quick, time_left=100) is None


def test_a_benchmark_stopped_at_its_budget_leaves_no_process_behind(tmp_path):
    """A child killed at its time budget must not leave its workers running (they did: a killed
    benchmark's Celery workers kept running, orphaned)."""
    import sys

    import pytest

    from benchmarks import __main__ as harness
    from devtools.processes import start_time

    pid_file = tmp_path / "grandchild.pid"
    script = ("import subprocess, sys, time; p = subprocess.Popen(['sleep', '300']); "
              f"open({str(pid_file)!r}, 'w').write(str(p.pid)); time.sleep(300)")
    with pytest.raises(RuntimeError, match="did not finish"):
        harness.run_child("stuck", [sys.executable, "-c", script], timeout=2, work=tmp_path)
    assert pid_file.exists()
    assert start_time(int(pid_file.read_text())) is None  # gone
