"""Review records, decisions and the audit log, on a store folder: no Prefect, no model."""

from __future__ import annotations

import hashlib
import subprocess
import threading
from pathlib import Path

import pytest

from vidflow.manifest import Manifest
from vidflow.review import ReviewBook, ReviewError, pending_summary, reviewer_name
from vidflow.store import Store


def held(job_id: str = "press", prompt: str = "Trump confessing, news footage") -> Manifest:
    job = {"prompt": prompt, "seed": len(prompt)}
    return Manifest(
        job_id=job_id,
        source=f"prompts/{job_id}.yaml",
        job_hash=hashlib.sha256(prompt.encode()).hexdigest(),
        status="review",
        job=job,
        verdict={"action": "review", "category": "impersonation", "rule": "term:trump"},
    )


@pytest.fixture
def book(tmp_path: Path) -> ReviewBook:
    return ReviewBook(Store(tmp_path / "store"))


def test_a_held_job_is_recorded_once_beside_the_ledger(book: ReviewBook, tmp_path: Path) -> None:
    manifest = held()
    first = book.hold(manifest, "prompt")
    again = book.hold(manifest, "prompt")
    assert first == again and first.pending and first.why == "impersonation (term:trump)"
    assert (tmp_path / "store" / "reviews" / f"{manifest.job_hash}.prompt.json").is_file()
    assert [e.event for e in book.audit()] == ["held"]


def test_a_decision_is_taken_once_and_the_audit_log_only_grows(
    book: ReviewBook, tmp_path: Path
) -> None:
    record = book.hold(held(), "prompt")
    audit = tmp_path / "store" / "reviews" / "audit"
    before = {p.name: p.read_bytes() for p in audit.iterdir()}

    decided = book.decide(record, "approve", "Ann", "satire", via="test")

    assert decided.approved and decided.decision.reviewer == "Ann"
    assert book.get(record.job_hash, "prompt") == decided
    with pytest.raises(ReviewError, match="already approved by Ann"):
        book.decide(record, "reject", "Bo", "no", via="test")
    with pytest.raises(ReviewError, match="already approved"):
        book.decide(decided, "approve", "Ann", "twice", via="test")
    after = {p.name: p.read_bytes() for p in audit.iterdir()}
    assert all(after[name] == data for name, data in before.items())
    assert [e.event for e in book.audit()] == ["held", "approved"]
    assert book.get(record.job_hash, "prompt").decision.reason == "satire"


def test_of_two_people_deciding_at_once_exactly_one_wins(book: ReviewBook) -> None:
    record = book.hold(held(), "prompt")
    outcomes: list[str] = []
    start = threading.Barrier(8)

    def decide(i: int) -> None:
        start.wait()
        try:
            book.decide(record, "approve" if i % 2 else "reject", f"r{i}", "why", via="test")
            outcomes.append("won")
        except ReviewError:
            outcomes.append("refused")

    threads = [threading.Thread(target=decide, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused"] * 7 + ["won"]
    winner = book.get(record.job_hash, "prompt").decision
    assert [e.reviewer for e in book.audit() if e.event != "held"] == [winner.reviewer]


def test_a_decision_needs_a_reason_a_reviewer_and_a_known_job(book: ReviewBook) -> None:
    record = book.hold(held(), "prompt")
    with pytest.raises(ReviewError, match="field 'reason'"):
        book.decide(record, "approve", "Ann", "   ", via="test")
    with pytest.raises(ReviewError, match="field 'reviewer'"):
        book.decide(record, "approve", "", "fine", via="test")
    with pytest.raises(ReviewError, match="job 'nope': nothing held"):
        book.find("nope")
    assert book.get(record.job_hash, "prompt").pending


def test_a_job_is_found_by_id_or_hash_and_an_edit_is_a_new_record(book: ReviewBook) -> None:
    old = book.hold(held(prompt="Trump confessing, news footage"), "prompt")
    book.decide(old, "reject", "Ann", "no", via="test")
    new = book.hold(held(prompt="Trump confessing, news footage, 4k"), "prompt")
    assert new.job_hash != old.job_hash and new.pending
    assert book.find("press") == new  # the one that waits wins
    assert book.find(old.job_hash[:10]).rejected
    book.decide(new, "reject", "Ann", "still no", via="test")
    with pytest.raises(ReviewError, match="ambiguous"):
        book.find("press")


def test_the_summary_names_the_command_that_decides(book: ReviewBook) -> None:
    record = book.hold(held(), "prompt")
    text = pending_summary([record])
    assert 'vidflow review approve press --reason "..."' in text
    assert 'vidflow review reject press --reason "..."' in text
    assert "`review` workflow" in text and pending_summary([]) == ""


def test_the_reviewer_comes_from_the_flag_the_environment_or_git(tmp_path: Path) -> None:
    assert reviewer_name("Flag", "Env", tmp_path) == "Flag"
    assert reviewer_name(None, "Env", tmp_path) == "Env"
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "config", "user.name", "Gi T"], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "config", "user.email", "g@x.org"], check=True)
    assert reviewer_name(None, None, tmp_path) == "Gi T <g@x.org>"


def test_no_reviewer_anywhere_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "none"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    with pytest.raises(ReviewError, match="--reviewer NAME, set VIDFLOW_REVIEWER"):
        reviewer_name(None, "  ", tmp_path)
