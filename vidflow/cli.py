"""`vidflow` command line. Each area adds its own subcommands through `register(subparsers)`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from vidflow import __version__


def build_parser() -> argparse.ArgumentParser:
    from generation import cli as generation_cli
    from moderation import cli as moderation_cli
    from provenance import verify
    from vidflow import commands, review_commands

    parser = argparse.ArgumentParser(
        prog="vidflow",
        description="Prompt files in, moderated, watermarked, signed AI videos out.",
    )
    parser.add_argument("--version", action="version", version=f"vidflow {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.register(subparsers)
    generation_cli.register(subparsers)
    moderation_cli.register(subparsers)
    verify.register(subparsers)
    review_commands.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from vidflow.errors import SpecError

    try:
        code = args.handler(args)
    except SpecError as exc:  # a bad input file: its name, job and field, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
