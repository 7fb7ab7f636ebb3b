"""The core subcommands: run, validate, schema."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from vidflow.errors import plain
from vidflow.manifest import RunReport
from vidflow.settings import get_settings
from vidflow.spec import json_schema, load_prompt_files

SCHEMA_FILE = "schema.json"

EXIT_OK = 0
EXIT_STOPPED = 1  # moderation blocked, held for review, or quarantined some job
EXIT_FAILED = 2  # an invalid prompt file or a failed job
# 3 (configuration), 70 (internal error) and the interrupts are decided in vidflow.cli.


def run_exit_code(report: RunReport) -> int:
    if report.errors or report.count("failed"):
        return EXIT_FAILED
    if report.count("blocked") or report.count("review") or report.count("quarantined"):
        return EXIT_STOPPED
    return EXIT_OK


def _summary_table(report: RunReport) -> Table:
    table = Table(title=f"vidflow run {report.run_id}")
    for column in ("job", "source", "status", "why", "video", "seconds"):
        table.add_column(column)
    for m in report.manifests:
        why = ""
        if m.verdict and m.status in ("blocked", "review"):
            why = f"{m.verdict.get('category')}: {m.verdict.get('rule')}"
        elif m.safety and m.status == "quarantined":
            why = "output safety flagged"
        elif m.error:
            why = m.error[:80]
        elif m.reused:
            why = "already finished (reused)"
        seconds = f"{m.timings.get('total_s', 0.0):.1f}" if m.timings else ""
        # Text, never markup: a file name like "[/red]" is shown, not interpreted.
        cells = (m.job_id, m.source, m.status, why, m.video or "", seconds)
        table.add_row(*(Text(plain(cell)) for cell in cells))
    return table


def _run(args: argparse.Namespace) -> int:
    from flows.generate import check_setup, generate_videos

    if args.changed is not None and ".." not in args.changed:
        print(f"error: --changed takes BASE..HEAD, got {plain(args.changed)}", file=sys.stderr)
        return EXIT_FAILED
    check_setup(get_settings())  # a broken setting: one line, before Prefect starts
    report = generate_videos(
        paths=[str(p) for p in args.paths] or None,
        changed=args.changed,
        preset=args.preset,
        dry_run=args.dry_run,
    )
    if args.json:
        print(report.model_dump_json(indent=2), flush=True)
    print_summary(report)
    return run_exit_code(report)


def print_summary(report: RunReport) -> None:
    """The run's table and its invalid files on stderr, as text: never read as markup."""
    console = Console(stderr=True, width=140, markup=False, emoji=False, highlight=False)
    console.print(_summary_table(report))
    for error in report.errors:
        print(f"invalid: {plain(error)}", file=sys.stderr)


def _validate(args: argparse.Namespace) -> int:
    from generation.presets import resolve_job
    from vidflow.errors import SpecError

    settings = get_settings()
    report = load_prompt_files(args.paths or [settings.prompts_dir], settings.prompts_dir)
    errors = list(report.errors)
    count = 0
    for source, spec in report.jobs:
        try:
            resolve_job(spec, source, settings.default_preset)
            count += 1
        except SpecError as exc:
            errors.append(str(exc))
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    print(f"{count} valid job(s) in {len(report.files)} file(s), {len(errors)} error(s)")
    return EXIT_FAILED if errors else EXIT_OK


def _schema(args: argparse.Namespace) -> int:
    target: Path = args.output or get_settings().prompts_dir / SCHEMA_FILE
    text = json.dumps(json_schema(), indent=2) + "\n"
    if args.check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            print(f"{target} is stale: run `vidflow schema`", file=sys.stderr)
            return EXIT_FAILED
        return EXIT_OK
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    run = subparsers.add_parser(
        "run",
        help="generate, moderate, stamp and publish videos",
        description="Exit code: 0 all published, 1 some blocked, held for review or "
        "quarantined, 2 an invalid prompt file or a failed job, 3 a configuration or "
        "environment error, 70 an internal error.",
    )
    run.add_argument("paths", nargs="*", type=Path, help="prompt files or folders")
    run.add_argument("--changed", metavar="BASE..HEAD", help="only files changed in this range")
    run.add_argument("--preset", help="model preset for every job")
    run.add_argument("--dry-run", action="store_true", help="validate and moderate only")
    run.add_argument("--json", action="store_true", help="print the run report as JSON")
    run.set_defaults(handler=_run)

    validate = subparsers.add_parser("validate", help="check prompt files; generate nothing")
    validate.add_argument("paths", nargs="*", type=Path, help="prompt files or folders")
    validate.set_defaults(handler=_validate)

    schema = subparsers.add_parser("schema", help="write the prompt files' JSON Schema")
    schema.add_argument("--output", type=Path, help="default: prompts/schema.json")
    schema.add_argument("--check", action="store_true", help="fail if the file is stale")
    schema.set_defaults(handler=_schema)
