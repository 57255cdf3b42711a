"""Target 4's figure: each worker's bound is the calls its call threads carry at once, so one
worker cannot fill the provider's cap alone, and the curve measures the scale-out, not the cap."""

from benchmarks import throughput


def scale_rows(curve: list[tuple[int, float]], *, pool: str = "threads") -> list[dict]:
    """Target 4's rows of a result whose scale-out run read ``(workers, ops/s)`` for each point."""
    numbers = {"operations": 450, "succeeded": 450, "unfinished": 0}
    result = {"pool": pool, "concurrency": 16,
              "cpu": {**numbers, "cpu_ms_per_operation": 4.0, "cpu_ms_by_process": {}},
              "bound": {**numbers, "ops_per_second": 180.0, "max_http_in_flight": 20},
              "scale": [{"workers": workers, **numbers, "ops_per_second": measured, "max_http_in_flight": 30}
                        for workers, measured in curve],
              "memory": [{"operations": 5000, "rss_mb": 128.0, "unfinished": 0},
                         {"operations": 10000, "rss_mb": 128.0, "unfinished": 0}]}
    return [row for row in throughput.figures("production", result) if row["target"] == 4]


def test_each_worker_count_is_held_to_the_calls_its_call_threads_carry_up_to_the_providers_bound():
    rows = scale_rows([(1, 38.0), (2, 70.0), (4, 140.0)])

    per_worker = throughput.SCALE_CALL_THREADS / (throughput.SCALE_LATENCY_MS / 1000)
    provider = throughput.SCALE_CAP / (throughput.SCALE_LATENCY_MS / 1000)
    assert per_worker < provider  # one worker alone cannot reach the provider's bound
    assert [row["goal"] for row in rows] == [f">= 90% of {min(provider, n * per_worker):g}/s" for n in (1, 2, 4)]
    assert [row["ok"] for row in rows] == [True, False, True]  # 70/s is under 90% of 80/s


def test_each_point_also_says_how_far_it_is_from_growing_in_step_with_one_worker():
    details = [row["detail"] for row in scale_rows([(1, 30.0), (2, 57.0), (4, 108.0), (8, 140.0)])]

    assert details[0].endswith("; 1.00 of 30/s, one worker's throughput times the workers")
    assert details[1].endswith("; 0.95 of 60/s, one worker's throughput times the workers")
    assert details[2].endswith("; 0.90 of 120/s, one worker's throughput times the workers")
    assert details[3].endswith("; 0.93 of 150/s, one worker's throughput times the workers")  # the provider's bound


def test_its_workers_run_threads_that_share_their_call_threads_whatever_the_stacks_pool():
    """A worker's bound is its call threads only when its worker threads share them (one process)."""
    [row, *_] = scale_rows([(1, 38.0), (2, 76.0), (4, 140.0)], pool="prefork")

    assert row["detail"].startswith(f"threads x2, {throughput.SCALE_CALL_THREADS} call threads each;")


def test_each_point_runs_for_the_same_time_at_its_bound(monkeypatch, tmp_path):
    """The batch's first second and its last round weigh the same at every worker count: each point
    has as many operations as its bound carries in ``seconds`` (the same number at each point gave
    one worker 22 s and four 6 s)."""
    started, sizes = [], []
    monkeypatch.setattr(throughput, "start_worker", lambda stack, env, log_dir: started.append(env) or
                        type("Worker", (), {"stop": lambda self, sig=None: None})())
    monkeypatch.setattr(throughput, "bound_run", lambda sandbox, *, operations, **run: sizes.append(operations) or
                        {"operations": operations, "ops_per_second": 1.0})

    curve = throughput.scale_run({}, tmp_path, None, seconds=10, timeout=60)

    per_worker = throughput.SCALE_CALL_THREADS / (throughput.SCALE_LATENCY_MS / 1000)
    provider = throughput.SCALE_CAP / (throughput.SCALE_LATENCY_MS / 1000)
    assert sizes == [round(min(provider, n * per_worker) * 10) for n in throughput.SCALE_WORKERS] == [400, 800, 1500]
    assert [point["workers"] for point in curve] == [1, 2, 4] and len(started) == 1 + 2 + 4
    assert all(env["PROVIDER_CALL_THREADS"] == str(throughput.SCALE_CALL_THREADS) for env in started)
