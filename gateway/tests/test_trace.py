"""The phase timer (``GATEWAY_TRACE``): what it records, writes and reports."""

from __future__ import annotations

import contextvars
from pathlib import Path

import pytest

from gateway import trace


def test_off_records_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trace, "ENABLED", False)
    monkeypatch.setattr(trace, "_done", [])
    marks = trace.begin()
    trace.mark("reserved")
    trace.end(marks)
    assert marks is None and trace._done == []


def test_records_dumps_and_reports(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = tmp_path / "trace"
    monkeypatch.setenv("GATEWAY_TRACE", str(prefix))
    monkeypatch.setattr(trace, "ENABLED", True)
    monkeypatch.setattr(trace, "_done", [])
    monkeypatch.setattr(trace, "_gc", [(0, 0.5), (2, 40.0)])

    def request() -> None:
        marks = trace.begin()
        trace.mark("reserved")
        trace.mark("settled")
        trace.end(marks)

    for _i in range(5):
        contextvars.copy_context().run(request)
    trace.mark("outside")  # no request in this context: ignored
    trace.dump()

    files = list(tmp_path.glob("trace.*"))
    assert len(files) == 1
    assert len(files[0].read_text().splitlines()) == 5
    assert "gc gen2: n=1" in next(tmp_path.glob("trace-gc.*")).read_text()
    trace.report([str(files[0])], skip=0.0)
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()] == [
        "start->reserved",
        "reserved->settled",
        "settled->end",
    ]
    assert "n=     5" in out
