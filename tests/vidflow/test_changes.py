from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from vidflow.changes import ZERO_SHA, changed_prompt_files, parse_name_status
from vidflow.errors import VidflowError


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "config", "user.email", "t@example.com")
    git(tmp_path, "config", "user.name", "t")
    (tmp_path / "prompts").mkdir()
    return tmp_path


def write(repo: Path, rel: str, text: str) -> None:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_added_modified_deleted_and_renamed(repo: Path) -> None:
    write(repo, "prompts/keep.yaml", "prompt: keep\n")
    write(repo, "prompts/edit.yaml", "prompt: before\n")
    write(repo, "prompts/gone.yaml", "prompt: gone\n")
    write(repo, "prompts/old-name.yaml", "prompt: renamed but unchanged content\n")
    first = commit(repo, "first")
    write(repo, "prompts/edit.yaml", "prompt: after\n")
    write(repo, "prompts/new/added.yml", "prompt: added\n")
    (repo / "prompts/gone.yaml").unlink()
    (repo / "prompts/old-name.yaml").rename(repo / "prompts/new-name.yaml")
    write(repo, "README.md", "not a prompt\n")
    write(repo, "prompts/notes.txt", "not a prompt either\n")
    second = commit(repo, "second")

    changes = changed_prompt_files(f"{first}..{second}", repo)

    assert changes.full_scan is None
    assert sorted(changes.paths) == [
        "prompts/edit.yaml",
        "prompts/new-name.yaml",
        "prompts/new/added.yml",
    ]
    assert changes.deleted == ["prompts/gone.yaml"]


def test_range_from_the_first_commit(repo: Path) -> None:
    write(repo, "prompts/a.yaml", "prompt: a\n")
    first = commit(repo, "first")
    write(repo, "prompts/b.yaml", "prompt: b\n")
    commit(repo, "second")
    assert changed_prompt_files(f"{first}..HEAD", repo).paths == ["prompts/b.yaml"]


@pytest.mark.parametrize("base", [ZERO_SHA, ""])
def test_all_zero_base_of_a_new_branch_asks_for_a_full_scan(repo: Path, base: str) -> None:
    write(repo, "prompts/a.yaml", "prompt: a\n")
    commit(repo, "first")
    changes = changed_prompt_files(f"{base}..HEAD", repo)
    assert changes.paths == []
    assert changes.full_scan and "new branch" in changes.full_scan


def test_base_lost_to_a_force_push_asks_for_a_full_scan(repo: Path) -> None:
    write(repo, "prompts/a.yaml", "prompt: a\n")
    commit(repo, "first")
    changes = changed_prompt_files(f"{'ab' * 20}..HEAD", repo)
    assert changes.full_scan and "force push" in changes.full_scan


def test_changed_defaults_ask_for_a_full_scan(repo: Path) -> None:
    write(repo, "prompts/a.yaml", "prompt: a\n")
    first = commit(repo, "first")
    write(repo, "prompts/_defaults.yaml", "fps: 8\n")
    commit(repo, "defaults")
    changes = changed_prompt_files(f"{first}..HEAD", repo)
    assert changes.full_scan and "_defaults.yaml" in changes.full_scan


def test_unknown_head_and_bad_range_are_errors(repo: Path) -> None:
    write(repo, "prompts/a.yaml", "prompt: a\n")
    commit(repo, "first")
    with pytest.raises(VidflowError, match="head revision"):
        changed_prompt_files("HEAD..nope", repo)
    with pytest.raises(VidflowError, match="BASE..HEAD"):
        changed_prompt_files("HEAD", repo)


def test_parse_name_status_handles_renames_out_of_prompts_and_copies() -> None:
    fields = [
        "R100", "prompts/a.yaml", "archive/a.yaml",
        "C090", "prompts/b.yaml", "prompts/c.yaml",
        "M", "prompts/_partial.yaml",
        "A", "prompts/sub/d.yaml",
        "",
    ]  # fmt: skip
    changes = parse_name_status("\0".join(fields))
    assert changes.paths == ["prompts/c.yaml", "prompts/sub/d.yaml"]
    assert changes.deleted == ["prompts/a.yaml"]
    assert changes.full_scan is None
