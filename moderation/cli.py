"""Subcommands of `vidflow` that belong to this area."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add this area's subcommands; each sets `handler=` to a function(args) -> exit code."""
