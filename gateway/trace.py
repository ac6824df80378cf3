"""Per-request phase timestamps for measuring the gateway's own latency (``GATEWAY_TRACE=<file prefix>``).

Off by default (``mark`` is then one global lookup). On, each ``/v1/`` request of the ASGI app records
``(phase, time.perf_counter())`` pairs; at shutdown every worker writes its requests as JSON lines to
``<prefix>.<pid>`` (and the pauses of the garbage collector to ``<prefix>-gc.<pid>``);
``python -m gateway.trace <prefix>.*`` prints the distribution of the time between consecutive phases
(the first 20 % of requests, the warm-up, left out).
"""

from __future__ import annotations

import contextvars
import itertools
import json
import os
import sys
import time

ENABLED = bool(os.environ.get("GATEWAY_TRACE"))
_current: contextvars.ContextVar[list[tuple[str, float]] | None] = contextvars.ContextVar(
    "gateway_trace", default=None
)
_done: list[str] = []
_gc: list[tuple[int, float]] = []
_gc_started = 0.0


def _on_gc(phase: str, info: dict[str, int]) -> None:
    global _gc_started
    if phase == "start":
        _gc_started = time.perf_counter()
    else:
        _gc.append((info["generation"], (time.perf_counter() - _gc_started) * 1000))


if ENABLED:
    import gc

    gc.callbacks.append(_on_gc)


def begin() -> list[tuple[str, float]] | None:
    if not ENABLED:
        return None
    marks = [("start", time.perf_counter())]
    _current.set(marks)
    return marks


def mark(phase: str) -> None:
    if ENABLED:
        marks = _current.get()
        if marks is not None:
            marks.append((phase, time.perf_counter()))


def end(marks: list[tuple[str, float]] | None) -> None:
    if marks is not None:
        marks.append(("end", time.perf_counter()))
        _done.append(json.dumps(marks))  # a string: kept for the dump without the collector walking it


def dump() -> None:
    prefix = os.environ.get("GATEWAY_TRACE")
    if not prefix or not _done:
        return
    with open(f"{prefix}.{os.getpid()}", "w") as out:
        for marks in _done:
            out.write(marks + "\n")
    with open(f"{prefix}-gc.{os.getpid()}", "w") as out:
        for generation in (0, 1, 2):
            pauses = sorted(ms for gen, ms in _gc if gen == generation)
            if pauses:
                out.write(
                    f"gc gen{generation}: n={len(pauses)} p50={pauses[len(pauses) // 2]:.2f} "
                    f"max={pauses[-1]:.2f} total={sum(pauses):.0f} ms\n"
                )


def report(paths: list[str], skip: float = 0.2) -> None:
    rows = []
    for path in paths:
        with open(path) as f:
            rows += [json.loads(line) for line in f]
    rows.sort(key=lambda marks: marks[0][1])
    rows = rows[int(len(rows) * skip) :]  # leave out the warm-up
    steps: dict[str, list[float]] = {}
    order: list[str] = []
    for marks in rows:
        for (a, ta), (b, tb) in itertools.pairwise(marks):
            name = f"{a}->{b}"
            if name not in steps:
                order.append(name)
            steps.setdefault(name, []).append((tb - ta) * 1000)
    for name in order:
        values = sorted(steps[name])
        n = len(values)
        print(
            f"{name:40s} n={n:6d} p50={values[n // 2]:8.2f} p90={values[int(n * 0.9)]:8.2f} "
            f"p99={values[min(n - 1, int(n * 0.99))]:8.2f} max={values[-1]:8.2f} ms"
        )


if __name__ == "__main__":
    report(sys.argv[1:])
