"""`make bench`'s statistics and options (the measurement itself runs in `make bench`, never in a test)."""

from __future__ import annotations

import pytest

from xstilts.cli import build_parser
from xstilts.compute.bench import spread


def test_spread_of_repeated_ratios():
    s = spread([0.95, 1.01, 0.97, 0.98, 0.96, 0.99, 0.98, 1.00])
    assert s["median"] == pytest.approx(0.98) and s["n"] == 8
    assert (s["min"], s["max"]) == (0.95, 1.01)
    assert s["q1"] <= s["median"] <= s["q3"] and s["iqr"] == pytest.approx(s["q3"] - s["q1"])
    assert spread([1.0])["iqr"] == 0.0


def test_bench_defaults_interleave_enough_pairs():
    args = build_parser().parse_args(["bench"])
    assert (args.rounds, args.steps, args.hf_rounds, args.timer, args.threads) == (12, 60, 3, "cpu", 1)
