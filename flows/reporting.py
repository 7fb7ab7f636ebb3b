"""Run summaries for people: a markdown table for Prefect artifacts and GitHub job summaries."""

from __future__ import annotations

import os
import re
from pathlib import Path

from vidflow.errors import plain
from vidflow.manifest import Manifest, RunReport

# The characters that can make markdown (emphasis, code, links, images, tables, HTML,
# entities, strikethrough); a backslash before each shows it as itself (CommonMark).
_MARKDOWN = re.compile(r"([\\`*_\[\]<>|&~])")


def md(value: object) -> str:
    """Text shown as itself in GitHub and Prefect markdown: on one line, with no link,
    table cell break, emphasis or HTML that a file name or an error could carry."""
    return _MARKDOWN.sub(r"\\\1", plain(value))


def _why(m: Manifest) -> str:
    rejections = [
        r["decision"] for r in m.reviews if (r.get("decision") or {}).get("action") == "reject"
    ]
    if m.status == "blocked" and rejections:
        said = rejections[-1]
        return f"rejected by {said['reviewer']}: {said['reason']}".replace("|", "/")[:120]
    approvals = [r["decision"] for r in m.reviews if r.get("decision")]
    if m.status == "published" and approvals:
        said = approvals[-1]
        return f"approved by {said['reviewer']}: {said['reason']}".replace("|", "/")[:120]
    if m.status in ("blocked", "review") and m.verdict:
        return f"{m.verdict.get('category')} ({m.verdict.get('rule')})"
    if m.status == "quarantined" and m.safety:
        return "output safety: " + ", ".join(m.safety.get("flagged_categories") or [])
    if m.error:
        return m.error.replace("|", "/")[:120]
    return "reused" if m.reused else ""


def _max_score(m: Manifest) -> str:
    scores = (m.safety or {}).get("scores") or {}
    if not scores:
        return ""
    name, value = max(scores.items(), key=lambda kv: kv[1])
    return f"{name} {float(value):.2f}"


def markdown_summary(report: RunReport, link_base: str = "") -> str:
    """A table of every job, then the invalid files. Links point into the store, never
    at media hosted elsewhere."""
    lines = [
        f"### vidflow run {md(report.run_id)}" + (" (dry run)" if report.dry_run else ""),
        "",
        "| job | status | why | top safety score | seconds | video |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for m in report.manifests:
        seconds = m.timings.get("total_s")
        video = (
            f"[{md(m.job_id)}.mp4]({link_base}{m.video})"
            if m.video and m.status == "published"
            else ""
        )
        lines.append(
            f"| {md(m.job_id)} | {md(m.status)} | {md(_why(m))} | {md(_max_score(m))} | "
            f"{'' if seconds is None else f'{seconds:.1f}'} | {video} |"
        )
    if report.errors:
        lines += ["", "**Invalid prompt files**", ""]
        lines += [f"- {md(error)}" for error in report.errors]
    return "\n".join(lines) + "\n"


def job_rows(report: RunReport) -> list[dict[str, str]]:
    """One flat row per job for `prefect.artifacts.create_table_artifact`, so the Prefect UI
    can sort and filter the same facts the markdown summary shows."""
    return [
        {
            "job": plain(m.job_id),
            "status": m.status,
            "why": plain(_why(m)),
            "top safety score": _max_score(m),
            "seconds": "" if m.timings.get("total_s") is None else f"{m.timings['total_s']:.1f}",
            "video": (m.video or "") if m.status == "published" else "",
        }
        for m in report.manifests
    ]


def append_github_summary(markdown: str) -> Path | None:
    """Append to the GitHub Actions job summary when running there."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = Path(target)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(markdown)
    return path
