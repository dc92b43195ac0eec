"""`python -m umbrella.bench …`: the bench without the `umbrella` command (same options)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from umbrella.bench.arguments import register


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m umbrella.bench")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    register(commands)
    # `python -m umbrella.bench --duration 5` means `… bench --duration 5`.
    args = parser.parse_args(["bench", *(argv if argv is not None else sys.argv[1:])])
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
