"""The store's publish invariants under kill -9 at each step, same-name replacement, and
tampering: nothing partial is ever visible, a rerun finishes or removes what a crash left,
and every ledger entry points at a video with its recorded checksum."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vidflow.errors import ConfigError
from vidflow.manifest import Manifest
from vidflow.store import CRASH_AT_ENV, STAGING, Store, file_sha256

STEPS = ["video-staged", "staged", "video-moved", "manifest-written", "ledger-written"]

SAVE_IN_CHILD = """
import sys
from pathlib import Path
from vidflow.manifest import Manifest
from vidflow.store import Store
root, job_id, job_hash, video = sys.argv[1:]
Store(root).save(
    Manifest(job_id=job_id, source="prompts/x.yaml", job_hash=job_hash, status="published", job={}),
    Path(video),
)
"""


def manifest(job_id: str, job_hash: str) -> Manifest:
    return Manifest(
        job_id=job_id, source="prompts/x.yaml", job_hash=job_hash, status="published", job={}
    )


def clip(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content * 1000)
    return path


def save_and_crash(root: Path, job_id: str, job_hash: str, video: Path, step: str) -> None:
    env = {**os.environ, CRASH_AT_ENV: step}
    result = subprocess.run(
        [sys.executable, "-c", SAVE_IN_CHILD, str(root), job_id, job_hash, str(video)],
        env=env,
        check=False,
    )
    assert result.returncode == -9, "the fault point was not reached"


def dead_pid() -> int:
    """The pid of a process that has exited."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(done.stdout)


def visible_files(root: Path) -> list[str]:
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and STAGING not in p.parts
    )


@pytest.mark.parametrize("step", STEPS)
def test_kill_9_at_each_publish_step_then_a_rerun_leaves_a_whole_publish_or_none(
    tmp_path: Path, step: str
) -> None:
    root = tmp_path / "store"
    video = clip(tmp_path, "clip.mp4", b"frames of a harbour ")
    save_and_crash(root, "harbour", "h1", video, step)

    # Whatever was visible right after the crash, nothing is half-written.
    assert not [name for name in visible_files(root) if "partial" in name]

    done = Store(root).recover()

    assert done, "the crash left a stage that recovery must finish or remove"
    assert not list((root / STAGING).iterdir())
    store = Store(root)
    found = store.lookup("h1")
    if step == "video-staged":  # before the commit record: nothing was published
        assert found is None
        assert visible_files(root) == []
        return
    # From the commit record on, the rerun finishes the publish: mp4, manifest and ledger.
    assert found is not None and found.video == "published/harbour.mp4"
    assert visible_files(root) == [
        "ledger/h1.json",
        "published/harbour.json",
        "published/harbour.mp4",
    ]
    assert file_sha256(root / "published/harbour.mp4") == found.video_sha256 == file_sha256(video)
    beside = Manifest.model_validate_json((root / "published/harbour.json").read_text())
    assert beside == found


def test_a_crash_while_replacing_a_name_keeps_ledger_entries_true(tmp_path: Path) -> None:
    root = tmp_path / "store"
    first = clip(tmp_path, "v1.mp4", b"first video ")
    second = clip(tmp_path, "v2.mp4", b"second video ")
    Store(root).save(manifest("harbour", "h1"), first)
    save_and_crash(root, "harbour", "h2", second, "video-moved")

    # Between the renames the old ledger entry no longer matches the bytes: not reused.
    assert Store(root).lookup("h1") is None
    Store(root).recover()

    store = Store(root)
    assert store.lookup("h1") is None and not (root / "ledger/h1.json").exists()
    assert store.lookup("h2") is not None
    assert file_sha256(root / "published/harbour.mp4") == file_sha256(second)


def test_replacing_a_name_retires_the_old_ledger_entry(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    store.save(manifest("harbour", "h1"), clip(tmp_path, "v1.mp4", b"one "))
    store.save(manifest("harbour", "h2"), clip(tmp_path, "v2.mp4", b"two "))
    assert store.lookup("h1") is None
    assert store.lookup("h2") is not None
    assert store.published("harbour").job_hash == "h2"  # type: ignore[union-attr]


def test_a_video_changed_behind_the_ledger_is_not_reused(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    store.save(manifest("harbour", "h1"), clip(tmp_path, "v1.mp4", b"one "))
    (tmp_path / "store/published/harbour.json").unlink()  # no manifest beside: full check
    (tmp_path / "store/published/harbour.mp4").write_bytes(b"something else")
    assert store.lookup("h1") is None
    assert not (tmp_path / "store/ledger/h1.json").exists()


def test_recovery_leaves_a_live_runs_stage_alone_and_removes_old_partials(
    tmp_path: Path,
) -> None:
    import socket

    root = tmp_path / "store"
    live = root / STAGING / f"{socket.gethostname()}-{os.getppid()}-abcd1234"
    live.mkdir(parents=True)
    (live / "video.mp4").write_bytes(b"being written")
    (root / "published").mkdir()
    (root / "published/harbour.mp4.partial-1a2b3c4d").write_bytes(b"old debris")
    (root / "ledger").mkdir()
    (root / "ledger/h1.json.partial-1a2b3c4d").write_bytes(b"{")

    done = Store(root).recover()

    assert live.exists()
    assert not list(root.rglob("*.partial-*"))
    assert len(done) == 2


def test_a_stage_of_a_dead_process_without_a_commit_record_is_removed(tmp_path: Path) -> None:
    import socket

    root = tmp_path / "store"
    stage = root / STAGING / f"{socket.gethostname()}-{dead_pid()}-abcd1234"
    stage.mkdir(parents=True)
    (stage / "video.mp4").write_bytes(b"half")
    assert Store(root).recover() == [f"removed an unfinished publish ({stage.name})"]
    assert not stage.exists()


def test_a_store_that_cannot_be_written_is_a_configuration_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=r"store .*a-file/store is not writable"):
        Store(blocker / "store").check_writable()
    with pytest.raises(ConfigError, match="store nosuch://x: cannot be opened"):
        Store("nosuch://x")


def test_check_writable_leaves_nothing_behind(tmp_path: Path) -> None:
    Store(tmp_path / "store").check_writable()
    assert visible_files(tmp_path / "store") == []


def test_a_full_disk_during_publish_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    store = Store(tmp_path / "store")
    video = clip(tmp_path, "v.mp4", b"frames ")
    real_put = store.fs.put_file

    def put_until_full(local: str, remote: str, **kwargs: object) -> None:
        real_put(local, remote, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.fs, "put_file", put_until_full)
    with pytest.raises(OSError, match="No space left"):
        store.save(manifest("harbour", "h1"), video)
    assert visible_files(tmp_path / "store") == []
    assert not list((tmp_path / "store" / STAGING).iterdir())


def test_a_full_disk_after_the_commit_record_is_finished_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    root = tmp_path / "store"
    store = Store(root)
    video = clip(tmp_path, "v.mp4", b"frames ")
    real_write = Store._write_bytes

    def full_for_manifests(self: Store, rel: str, data: bytes, stage: str) -> None:
        if rel.endswith(".json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(self, rel, data, stage)

    monkeypatch.setattr(Store, "_write_bytes", full_for_manifests)
    with pytest.raises(OSError, match="No space left"):
        store.save(manifest("harbour", "h1"), video)
    monkeypatch.undo()
    # The video moved in, its manifest could not follow: the stage stays for recovery.
    assert visible_files(root) == ["published/harbour.mp4"]
    assert Store(root).lookup("h1") is None

    # The next run, after this process has gone: give the stage a dead owner's name.
    import socket

    (stage,) = (root / STAGING).iterdir()
    stage.rename(stage.with_name(f"{socket.gethostname()}-{dead_pid()}-{stage.name[-8:]}"))
    assert Store(root).recover()
    assert visible_files(root) == [
        "ledger/h1.json",
        "published/harbour.json",
        "published/harbour.mp4",
    ]
    assert Store(root).lookup("h1") is not None
