"""The ``einnas`` command line.

Each verb lives in its own module and registers itself through ``add_parser(subparsers)``; this
module only assembles them and turns expected user errors into one clear line (exit status 2).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from einnas.cli import (
    bench_commands,
    data_commands,
    diagnose_commands,
    draw_commands,
    grammar_commands,
    search_commands,
    train_commands,
)

DESCRIPTION = """\
einnas: neural architecture search over einspace (a probabilistic grammar of fundamental
operations) with Delta-NAS predictor-guided evolution.

Examples:
  einnas sample --space einspace --input-shape 3,28,28 -n 5 --seed 0
  einnas sample --space einspace1d --input-shape 1,40 -n 5 | einnas check --input-shape 1,40 -
  einnas seeds --input-shape 3,28,28 --num-classes 10
  einnas seeds --show resnet18 --pretty
  einnas make-dataset addnist --out data/addnist
"""


class UserError(Exception):
    """An error caused by the user's input; printed as one line without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="einnas", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    grammar_commands.add_parsers(sub)
    search_commands.add_parsers(sub)
    bench_commands.add_parsers(sub)
    diagnose_commands.add_parsers(sub)
    train_commands.add_parsers(sub)
    data_commands.add_parsers(sub)
    draw_commands.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    from einnas.study.storage import StorageError

    try:
        return int(args.func(args))
    except (UserError, ValueError, FileNotFoundError, StorageError) as e:
        print(f"einnas {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        term = type(e).__name__ == "Terminated"
        what = "terminated" if term else "interrupted"
        if args.command == "search":
            print(
                f"einnas search: {what}; the trials that were running are recorded as "
                "interrupted: rerun the same command to resume",
                file=sys.stderr,
            )
        else:
            print(f"einnas {args.command}: {what}", file=sys.stderr)
        return 143 if term else 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
