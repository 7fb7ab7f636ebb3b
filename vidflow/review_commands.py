"""`vidflow review`: list, show and decide held prompts and quarantined videos."""

from __future__ import annotations

import argparse
import sys
from typing import Any
from uuid import UUID

from rich.console import Console
from rich.table import Table

from vidflow.review import PAST, Action, ReviewBook, ReviewError, ReviewRecord, reviewer_name
from vidflow.settings import get_settings
from vidflow.store import Store

EXIT_OK = 0
EXIT_ERROR = 2  # unknown or already-decided job, no reason, no reviewer


def _book() -> ReviewBook:
    settings = get_settings()
    return ReviewBook(Store(settings.store_url or settings.artifacts_dir))


def _state(record: ReviewRecord) -> str:
    if record.decision is None:
        return "pending"
    return f"{PAST[record.decision.action]} by {record.decision.reviewer}"


def _list(args: argparse.Namespace) -> int:
    records = [r for r in _book().records() if args.all or r.pending]
    if args.json:
        print("[" + ",\n".join(r.model_dump_json(indent=2) for r in records) + "]")
        return EXIT_OK
    table = Table(title="held for review" if not args.all else "reviews")
    for column in ("job", "hash", "held", "why", "since", "state"):
        table.add_column(column)
    for r in records:
        table.add_row(
            r.job_id, r.job_hash[:12], r.stage, r.why, f"{r.held_at:%Y-%m-%d %H:%M}", _state(r)
        )
    Console(width=140).print(table)
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    book = _book()
    records = book.find_all(args.job)
    if args.json:
        print("[" + ",\n".join(r.model_dump_json(indent=2) for r in records) + "]")
        return EXIT_OK
    events = book.audit()
    for record in records:
        print(f"job       {record.job_id} ({record.source})")
        print(f"hash      {record.job_hash}")
        print(f"held      {record.stage}, {record.held_at:%Y-%m-%d %H:%M:%S} UTC: {record.why}")
        print(f"prompt    {record.prompt}")
        if record.video:
            print(f"video     {record.video}")
        if record.review_run:
            print(f"prefect   review flow run {record.review_run}")
        if record.decision is None:
            print("decision  pending")
        else:
            d = record.decision
            print(f"decision  {d.action} by {d.reviewer} at {d.decided_at:%Y-%m-%d %H:%M:%S} UTC")
            print(f"reason    {d.reason}")
            print(f"via       {d.via}")
        for e in events:
            if e.job_hash == record.job_hash and e.stage == record.stage:
                who = f" by {e.reviewer}" if e.reviewer else ""
                print(f"  {e.at:%Y-%m-%d %H:%M:%S} {e.event}{who} {e.detail}")
        print()
    return EXIT_OK


def _cancel_waiting_run(record: ReviewRecord, console: Console) -> None:
    """A decision from here ends the review run that waits in Prefect, if one can be reached."""
    if record.review_run is None:
        return
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL
    from prefect.states import Cancelled

    if not PREFECT_API_URL.value():
        console.print(
            f"Prefect review run {record.review_run} still waits: cancel it in the Prefect UI "
            "(PREFECT_API_URL is not set here)"
        )
        return
    try:
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(UUID(record.review_run))
            if run.state is not None and not run.state.is_final():
                d = record.decision
                message = (
                    f"{PAST[d.action]} by {d.reviewer} ({d.via}): {d.reason}" if d else "decided"
                )
                client.set_flow_run_state(run.id, Cancelled(message=message), force=True)
                console.print(f"cancelled the waiting Prefect review run {record.review_run}")
    except Exception as exc:  # noqa: BLE001 - the decision is recorded; the run is a courtesy
        console.print(f"could not cancel Prefect review run {record.review_run}: {exc}")


def _decide(args: argparse.Namespace, action: Action) -> int:
    from flows.review import carry_out

    settings = get_settings()
    book = _book()
    record = book.find(args.job)
    reviewer = reviewer_name(args.reviewer, settings.reviewer)
    record = book.decide(record, action, reviewer, args.reason, via=args.via)
    console = Console(stderr=True, width=140)
    console.print(
        f"{record.job_id} ({record.job_hash[:12]}, {record.stage}): {PAST[action]} by {reviewer}"
    )
    _cancel_waiting_run(record, console)
    outcome = carry_out(record, book.store, generate=getattr(args, "run", False))
    console.print(f"{record.job_id}: {outcome.done}")
    if outcome.manifest is not None and outcome.manifest.status == "failed":
        return EXIT_ERROR
    return EXIT_OK


def _review(args: argparse.Namespace) -> int:
    try:
        if args.review_command == "approve":
            return _decide(args, "approve")
        if args.review_command == "reject":
            return _decide(args, "reject")
        handler = {"list": _list, "show": _show}[args.review_command]
        return handler(args)
    except ReviewError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    review = subparsers.add_parser(
        "review",
        help="list, show and decide held prompts and quarantined videos",
        description="A held prompt is generated only after an approval is recorded here, "
        "in the Prefect UI or by the GitHub review workflow. Exit code 2: unknown or "
        "already decided job, no reason, no reviewer.",
    )
    commands = review.add_subparsers(dest="review_command", required=True, metavar="ACTION")
    listing = commands.add_parser("list", help="what waits for a decision")
    listing.add_argument("--all", action="store_true", help="decided ones too")
    listing.add_argument("--json", action="store_true")
    show = commands.add_parser("show", help="one job's record and audit log")
    show.add_argument("job", help="job id or content hash (8+ characters)")
    show.add_argument("--json", action="store_true")
    for name, help_text in (
        ("approve", ("approve: generate the prompt (next run, or now with --run) or publish "
         "the quarantined video")),
        ("reject", "reject: never generate the prompt, or delete the quarantined video"),
    ):  # fmt: skip
        decide = commands.add_parser(name, help=help_text)
        decide.add_argument("job", help="job id or content hash (8+ characters)")
        decide.add_argument("--reason", required=True, help="why (recorded, required)")
        decide.add_argument(
            "--reviewer", help="who decides (default: VIDFLOW_REVIEWER, then git config)"
        )
        decide.add_argument(
            "--via", default="command line", help="where the decision was taken (recorded)"
        )
        if name == "approve":
            decide.add_argument(
                "--run", action="store_true", help="generate an approved prompt now"
            )
    review.set_defaults(handler=_review)
