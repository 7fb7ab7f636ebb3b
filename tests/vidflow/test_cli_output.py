"""What the command line prints is text: markup and escapes in names are shown, not run."""

from __future__ import annotations

import pytest

from vidflow.commands import print_summary
from vidflow.manifest import Manifest, RunReport


def test_the_summary_prints_markup_and_escapes_in_names_as_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = RunReport(
        run_id="r1",
        manifests=[
            Manifest(job_id="ok", source="prompts/[/red]x[bold].yaml", job_hash="h",
                     status="failed", job={}, error="[/] broke \x1b[2J here"),
        ],
        errors=["prompts/[/red].yaml job '\\x1b[31m' field 'id': bad"],
    )  # fmt: skip
    print_summary(report)
    err = capsys.readouterr().err
    assert "[/red]x[bold].yaml" in err
    assert "\x1b" not in err and "\\x1b[2J" in err
    assert err.splitlines()[-1] == "invalid: prompts/[/red].yaml job '\\x1b[31m' field 'id': bad"
