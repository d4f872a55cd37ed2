"""The `xstilts` command. Each subcommand lives in the module that owns its job and exposes
`add_cli(subparsers)`, registering a parser whose `func(args) -> int` runs it."""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMAND_MODULES = [
    "xstilts.study.runstore",    # runs
    "xstilts.benchmarks.registry",       # tasks
    "xstilts.benchmarks.scoring",     # score
    "xstilts.analysis.analyze",    # analyze, calibrate, bench-analysis
    "xstilts.compute.plan",        # plan
    "xstilts.compute.submit",      # submit
    "xstilts.study.steps",      # validate, data, phase, index
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xstilts", description="X-STILTs at scale: tasks, runs, scoring, "
                                     "analysis, planning and submission of the study")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).add_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
