"""The `xstilts` command. Each subcommand lives in the module that owns its job and exposes
`add_cli(subparsers)`, registering a parser whose `func(args) -> int` runs it."""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMAND_MODULES = [
    "xstilts.runstore",    # runs
    "xstilts.tasks",       # tasks
    "xstilts.scoring",     # score
    "xstilts.analysis",    # analyze
    "xstilts.plan",        # plan
    "xstilts.submit",      # submit
    "xstilts.phases",      # validate, data
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xstilts", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:  # module not written yet
                continue
            raise
        module.add_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
