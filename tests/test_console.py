"""The console's progress lines in a log: bounded per phase however slow the machine (issue: `make
reproduce` on mini prints at most about 40 lines)."""

import io

from xstilts.study import notebooks


class _Log(io.StringIO):
    def isatty(self):
        return False


def test_a_slow_phase_prints_at_most_ten_progress_lines_in_a_log(monkeypatch, tmp_path):
    monkeypatch.setenv("XSTILTS_OUTPUTS", str(tmp_path))
    clock = {"t": 0.0, "done": 0}
    monkeypatch.setattr(notebooks.time, "monotonic", lambda: clock["t"])
    log = _Log()
    tracker = notebooks.Progress("smoke", "target", log)
    monkeypatch.setattr(tracker, "done", lambda: clock["done"])
    n = len(tracker.runs)
    assert n >= 5
    for second in range(1, 3600 * 3):  # three hours, one run done every 3 minutes of a slow phase
        clock["t"] = float(second)
        clock["done"] = min(n, second // 180)
        tracker.tick()
    lines = log.getvalue().splitlines()
    assert 1 <= len(lines) <= 10, lines
    assert lines[-1].startswith(f"target: {n}/{n} done")  # once a minute alone would print 3 lines a run
    assert all(" done, 0 failed, " in line for line in lines)
