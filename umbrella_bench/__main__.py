"""`python -m umbrella_bench …`: the load benchmark (`-h` lists its options)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from umbrella_bench.arguments import build_parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv if argv is not None else sys.argv[1:])
    from umbrella_bench.command import cmd_bench  # the bench and the app load after `-h`

    return cmd_bench(args)


if __name__ == "__main__":
    raise SystemExit(main())
