"""What ``python -m benchmarks`` prints: the details some benchmarks give, then one table of every
benchmark's "figures" rows (each against its goal), with the machine they were measured on."""

from __future__ import annotations


def _number(value, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _row(cells, widths) -> str:
    return "  ".join(str(cell).ljust(width) if i == 0 else str(cell).rjust(width)
                     for i, (cell, width) in enumerate(zip(cells, widths, strict=True)))


PIPELINE_COLUMNS = ("", "ops/s", "p50", "p95", "max", "queue p50", "run p50", "http mean", "run-http", "ok")
PIPELINE_WIDTHS = (38, 6, 6, 6, 6, 9, 7, 9, 8, 7)


def _pipeline_row(title: str, run: dict, *, throughput: bool = True) -> str:
    latency, queue, work = run.get("latency_ms", {}), run.get("queue_ms", {}), run.get("run_ms", {})
    return _row(
        (
            title,
            _number(run.get("ops_per_second") if throughput else None, 1),
            _number(latency.get("p50")),
            _number(latency.get("p95")),
            _number(latency.get("max")),
            _number(queue.get("p50")),
            _number(work.get("p50"), 1),
            _number(run.get("http_mean_ms"), 1),
            _number(run.get("run_minus_http_mean_ms"), 1),
            f"{run['succeeded']}/{run['operations']}",
        ),
        PIPELINE_WIDTHS,
    )


def print_pipeline(stacks: dict) -> None:
    print("\nPipeline: SnapTrade provisionings, services -> Celery worker process -> sandbox process")
    print("(ms from Operation.created_at to finished_at; queue = to started_at; run = started_at to finished_at;")
    print(" http = ExternalCall.duration_ms; run-http = mean run minus mean http: claim, DB writes, Python;")
    print(" ops/s = from the first start to the last finish, with a backlog)")
    print(_row(PIPELINE_COLUMNS, PIPELINE_WIDTHS))
    for name, result in stacks.items():
        if "pipeline" not in result:
            print(f"{name}: {result.get('skipped') or result.get('error')}")
            continue
        print(result["label"])
        idle = result["idle"]
        print(_pipeline_row(f"  one at a time ({idle['operations']})", idle, throughput=False))
        burst = result["pipeline"]
        title = f"  batch of {burst['operations']} (created in {burst['batch_request_seconds']:.1f} s)"
        print(_pipeline_row(title, burst))


def print_cap(result: dict) -> None:
    cap = result.get("concurrency_cap")
    if not cap:
        return
    runs = cap["runs"]
    print(f"\nConcurrency cap: sandbox latency {cap['latency_ms']} ms, {runs[0]['operations']} provisionings,"
          f" {result['label']}")
    print(
        "(an operation refused a slot is woken when one of the connection's operations finishes, "
        f"else comes back after about {cap['refused_wait_seconds']:g} s)"
    )
    widths = (16, 6, 22, 18, 8, 7)
    print(_row(("max_concurrency", "ops/s", "bound (slots/latency)", "max HTTP in flight", "p95 ms", "ok"), widths))
    for run in runs:
        print(_row((run["max_concurrency"] or "none", _number(run.get("ops_per_second"), 1),
                    _number(run["bound_ops_per_second"], 1), run["max_http_in_flight"],
                    _number(run.get("latency_ms", {}).get("p95")), f"{run['succeeded']}/{run['operations']}"),
                   widths))


def print_micro(micro) -> None:
    if not isinstance(micro, list):
        print(f"\nMicro: {micro.get('error') if micro else 'not run'}")
        return
    print(f"\nMicro (timeit, median of {micro[0]['repeats']} repeats)")
    widths = (28, 9, 9, 0)
    print(_row(("", "us/op", "ops/s", ""), widths))
    for item in micro:
        print(_row((item["name"], _number(item["us_per_op"], 1), _number(item["ops_per_second"]),
                    item["detail"]), widths))


FIGURE_COLUMNS = ("target", "figure", "goal", "measured", "ratio", "ok")


def _measured(row: dict) -> str:
    value = row.get("measured")
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "-" if value is None else str(value)
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2 if abs(value) >= 1 else 3
    return f"{value:,.{digits}f} {row.get('unit', '')}".strip()


def figures_table(rows: list[dict]) -> str:
    """One line per figure, by target (each child's rows in its order): the goal, what was
    measured, measured/goal (or /bound), whether it is met; its detail on the next line."""
    rows = sorted(rows, key=lambda row: str(row.get("target", "?")))
    cells = [
        (
            str(row.get("target", "?")),
            str(row.get("figure", "?")),
            str(row.get("goal", "")),
            _measured(row),
            _number(row["ratio"], 2) if isinstance(row.get("ratio"), int | float) else "-",
            {True: "yes", False: "NO"}.get(row.get("ok"), "?"),
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [FIGURE_COLUMNS, *cells]) for i in range(len(FIGURE_COLUMNS))]

    def line(values) -> str:  # text left, numbers right
        return "  ".join(
            value.rjust(width) if i in (3, 4) else value.ljust(width)
            for i, (value, width) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    lines = [line(FIGURE_COLUMNS), "  ".join("-" * width for width in widths)]
    for row, values in zip(rows, cells, strict=True):
        lines.append(line(values))
        if row.get("detail"):
            lines.append(" " * (widths[0] + 4) + str(row["detail"]))
    return "\n".join(lines)


def machine_line(results: dict) -> str:
    m = results["machine"]
    parts = [
        f"{m.get('cores')} cores ({m.get('cpu') or 'CPU unknown'})",
        f"{m.get('memory_gb')} GB",
        m.get("os"),
        f"Python {m.get('python')}",
        m.get("postgresql") or "no PostgreSQL",
        m.get("redis", "").split(" build=")[0] if m.get("redis") else "no Redis",
        "load average " + " ".join(str(x) for x in m.get("load_average", [])),
    ]
    if loop := m.get("reference_loop_seconds"):  # the machine's speed at the start and the end
        parts.append("reference loop (2M additions in Python) " + " / ".join(f"{s:.3f}" for s in loop) + " s")
    return ", ".join(str(part) for part in parts if part)


def print_report(results: dict) -> str:
    """Print the details and the table of figures; returns what a text file of the run keeps."""
    children = results["children"]
    outcome = lambda name: children.get(name, {}).get("result")  # noqa: E731
    stacks = {name: outcome(name) for name in ("local", "production") if isinstance(outcome(name), dict)}
    if stacks:
        print_pipeline(stacks)
        print_cap(stacks.get("local", {}))
    if "micro" in children and "skipped" not in children["micro"]:
        print_micro(outcome("micro"))
    lines = [
        f"Benchmarks {results['date']} ({results['seconds']} s{', quick' if results['options']['quick'] else ''})",
        machine_line(results),
        "",
        figures_table(results["figures"]) if results["figures"] else "(no figures)",
    ]
    for name, child in children.items():
        if "skipped" in child:
            lines.append(f"not run: {name}: {child['skipped']}")
        elif isinstance(child.get("result"), dict) and "error" in child["result"]:
            lines.append(f"FAILED: {name}: {child['result']['error']}")
    table = "\n".join(lines)
    print("\n" + table)
    return table


def print_outage(results: dict) -> None:
    machine, run = results["machine"], results["outage"]
    print(f"\nOutage benchmark {results['date']}, {machine['cores']} cores, Python {machine['python']},"
          f" {results['seconds']} s")
    if "error" in run:
        print(f"outage: {run['error']}")
        return
    print(f"SnapTrade answers 503 to everything for {run['outage_seconds']:g} s while {run['operations']}"
          f" provisionings are queued, then recovers ({run['label']};")
    print(f" backoff base {run['backoff']['base_seconds']:g} s, cap {run['backoff']['max_seconds']:g} s;"
          f" sweeper every {run['sweep_interval_seconds']:g} s)")
    widths = (52, 8)
    print(_row(("requests that reached SnapTrade during the outage", run["requests_during_outage"]), widths))
    for route, count in sorted(run["requests_during_outage_by_route"].items()):
        print(_row((f"  {route}", count), widths))
    print(_row(("requests after the outage", run["requests_after_outage"]), widths))
    print(_row(("attempts (all operations)", run["attempts"]), widths))
    print(_row(("time to recover (s, outage end -> all done)", _number(run["recovery_seconds"], 1)), widths))
    print(_row(("accounts active", f"{run['active']}/{run['operations']}"), widths))
    print(_row(("accounts lost (must be 0)", run["lost"]), widths))
    print(_row(("duplicate users (must be 0)", run["duplicates"]), widths))
