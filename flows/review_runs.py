"""Start a review flow run for each held job, when the `review` deployment exists.

Suspension needs a deployment (Prefect reschedules a suspended run from it when input
arrives), so review runs exist only with a Prefect server where `prefect deploy` made the
`review` deployment (prefect.yaml). In Prefect's local mode, or before it is deployed,
held jobs are decided on the command line or with the GitHub `review` workflow.
"""

from __future__ import annotations

import logging
from uuid import UUID

from prefect import get_client, get_run_logger
from prefect.exceptions import ObjectNotFound
from prefect.logging.loggers import LoggingAdapter

from vidflow.review import ReviewBook, ReviewRecord

REVIEW_FLOW = "review-job"
REVIEW_DEPLOYMENT = f"{REVIEW_FLOW}/review"


def open_review_runs(records: list[ReviewRecord], book: ReviewBook) -> list[ReviewRecord]:
    """One waiting review run per pending record; a record whose run still waits keeps it."""
    logger = get_run_logger()
    try:
        return _open(records, book, logger)
    except Exception as exc:  # noqa: BLE001 - the records are kept; a review run is a convenience
        logger.warning("could not start review runs (%s): decide with `vidflow review`", exc)
        return records


def _open(
    records: list[ReviewRecord], book: ReviewBook, logger: logging.Logger | LoggingAdapter
) -> list[ReviewRecord]:
    opened: list[ReviewRecord] = []
    with get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name(REVIEW_DEPLOYMENT)
        except ObjectNotFound:
            logger.info(
                "no %s deployment on this Prefect server: decide held jobs with "
                "`vidflow review` or the GitHub review workflow",
                REVIEW_DEPLOYMENT,
            )
            return records
        for record in records:
            if record.review_run is not None:
                try:
                    state = client.read_flow_run(UUID(record.review_run)).state
                except ObjectNotFound:  # made on another server: open one here
                    state = None
                if state is not None and not state.is_final():
                    opened.append(record)
                    continue
            run = client.create_flow_run_from_deployment(
                deployment.id,
                parameters={"job_hash": record.job_hash, "stage": record.stage},
                name=f"review-{record.job_id}-{record.stage}",
                tags=["vidflow-review"],
            )
            logger.info("%s: review run %s waits for a decision", record.job_id, run.id)
            opened.append(book.set_review_run(record, str(run.id)))
    return opened
