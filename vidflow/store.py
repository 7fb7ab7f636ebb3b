"""The artifact store: finished videos, their manifests, and the ledger of finished jobs.

Layout under the store root (a local folder by default, any fsspec URL in production):

    published/<job_id>.mp4, published/<job_id>.json   what readers and the gallery see
    quarantine/<job_id>.mp4, quarantine/<job_id>.json flagged by output safety, never published
    ledger/<job_hash>.json                             one manifest per finished job
    runs/<run_id>.json, latest-run.json                one RunReport per flow run
    runs/<run_id>/shard-<n>.json                       a fanned-out shard's manifests
    claims/<key>/<n>.json                              who makes a job now (vidflow.claims)
    .staging/<host>-<pid>-<random>/                    a publish in progress (never read)

Invariants every reader may rely on:

- No partial file is ever visible outside `.staging/`: each file is written there first and
  renamed into place.
- A publish is staged whole (video and `commit.json`, the manifest to write) before anything
  visible changes; then the video, its manifest and its ledger entry are renamed in, in that
  order. A run killed in between leaves a staged publish that the next run's `recover()`
  finishes, so the mp4 and its manifest appear together and nothing half-done remains.
- A ledger entry points at a video whose bytes have its recorded sha256: `lookup()` checks,
  and the entry of a video that a newer one replaced under the same name is removed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import uuid
from pathlib import Path
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from vidflow.errors import ConfigError
from vidflow.manifest import Manifest, RunReport
from vidflow.owners import owner_gone, owner_token

logger = logging.getLogger(__name__)

PUBLISHED = "published"
QUARANTINE = "quarantine"
LEDGER = "ledger"
RUNS = "runs"
STAGING = ".staging"
COMMIT = "commit.json"
# Test hook: the name of a publish step at which the process kills itself (SIGKILL), to
# prove a crash at that exact point loses nothing and leaves nothing behind.
CRASH_AT_ENV = "VIDFLOW_TEST_CRASH_AT"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _crash_point(step: str) -> None:
    if os.environ.get(CRASH_AT_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


class Store:
    """A folder of finished work, addressed by job hash, behind an fsspec filesystem."""

    def __init__(self, url: str | Path) -> None:
        try:
            fs, root = fsspec.url_to_fs(str(url))
        except (ValueError, ImportError, OSError) as exc:
            raise ConfigError(f"store {url}: cannot be opened: {exc}") from None
        self.fs: fsspec.AbstractFileSystem = fs
        self.root = root.rstrip("/")
        self.url = str(url)

    @property
    def local_root(self) -> Path | None:
        """The root as a local path, when the store is a local folder (for the gallery)."""
        return Path(self.root) if isinstance(self.fs, LocalFileSystem) else None

    def _path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    # Writing: everything goes through a stage folder and a rename.

    def check_writable(self) -> None:
        """Raise `ConfigError` unless a file can be written, renamed and removed here."""
        probe = f"{RUNS}/.write-check-{uuid.uuid4().hex[:8]}"
        stage = None
        try:
            stage = self._new_stage()
            self._write_bytes(probe, b"ok", stage)
            self.fs.rm(self._path(probe))
        except OSError as exc:
            raise ConfigError(f"store {self.url} is not writable: {exc}") from None
        finally:
            if stage is not None:
                self._drop_stage(stage)

    def _new_stage(self) -> str:
        stage = self._path(STAGING, owner_token())
        self.fs.makedirs(stage, exist_ok=True)
        return stage

    def _drop_stage(self, stage: str) -> None:
        try:
            self.fs.rm(stage, recursive=True)
        except FileNotFoundError:
            pass

    def _move_in(self, staged: str, rel: str) -> None:
        final = self._path(rel)
        self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
        self.fs.mv(staged, final)

    def _write_bytes(self, rel: str, data: bytes, stage: str) -> None:
        staged = f"{stage}/{uuid.uuid4().hex[:8]}-{rel.rsplit('/', 1)[-1]}"
        with self.fs.open(staged, "wb") as handle:
            handle.write(data)
        self._move_in(staged, rel)

    # Reading.

    def _read_text(self, rel: str) -> str | None:
        path = self._path(rel)
        try:
            with self.fs.open(path, "r", encoding="utf-8") as handle:
                text: str = handle.read()
        except FileNotFoundError:
            return None
        return text

    def _sha256(self, rel: str) -> str | None:
        digest = hashlib.sha256()
        try:
            with self.fs.open(self._path(rel), "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        except FileNotFoundError:
            return None
        return digest.hexdigest()

    def exists(self, rel: str) -> bool:
        return bool(self.fs.exists(self._path(rel)))

    def _manifest_at(self, rel: str) -> Manifest | None:
        text = self._read_text(rel)
        if text is None:
            return None
        try:
            return Manifest.model_validate_json(text)
        except ValueError:
            logger.warning("ignoring unreadable manifest %s", rel)
            return None

    def lookup(self, job_hash: str) -> Manifest | None:
        """The finished manifest for this job hash, if its video is in the store unchanged.

        An entry whose video is missing or has other bytes than it recorded is removed, so
        the job is made again rather than another video being passed off as it.
        """
        manifest = self._manifest_at(f"{LEDGER}/{job_hash}.json")
        if manifest is None or not manifest.video:
            return manifest
        # Every publish rewrites the manifest beside its video, so with no publish under way
        # (none staged), a manifest there naming this hash and checksum vouches for the
        # bytes without reading them; mid-publish, they are read.
        beside = self._manifest_at(manifest.video.removesuffix(".mp4") + ".json")
        if (
            not self._publishing()
            and beside is not None
            and beside.job_hash == job_hash
            and beside.video_sha256 == manifest.video_sha256
            and self.exists(manifest.video)
        ):
            return manifest
        actual = self._sha256(manifest.video)
        if actual is None or actual != manifest.video_sha256:
            why = "is missing" if actual is None else "has other bytes than recorded"
            logger.warning("ledger entry %s: %s %s; will regenerate", job_hash, manifest.video, why)
            self._retire(job_hash)
            return None
        return manifest

    def _publishing(self) -> bool:
        """True while any publish is staged (under way, or left by a crash)."""
        base = self._path(STAGING)
        return bool(self.fs.exists(base) and self.fs.ls(base))

    def published(self, job_id: str) -> Manifest | None:
        """The manifest stored under this job id (published or quarantined), if any."""
        for folder in (PUBLISHED, QUARANTINE):
            manifest = self._manifest_at(f"{folder}/{job_id}.json")
            if manifest is not None:
                return manifest
        return None

    # Publishing.

    def save(self, manifest: Manifest, video: Path | None) -> Manifest:
        """Store a finished job: its video, its manifest and its ledger entry, together."""
        folder = {"published": PUBLISHED, "quarantined": QUARANTINE}.get(manifest.status)
        if folder is None:
            raise ValueError(f"only published or quarantined jobs are stored, not {manifest}")
        stage = self._new_stage()
        try:
            if video is not None:
                self.fs.put_file(str(video), f"{stage}/video.mp4")
                _crash_point("video-staged")
                manifest = manifest.model_copy(
                    update={
                        "video": f"{folder}/{manifest.job_id}.mp4",
                        "video_sha256": file_sha256(video),
                    }
                )
            self._stage_commit(stage, manifest, folder)
        except BaseException:
            self._drop_stage(stage)
            raise
        # From here on a failure (a full disk) leaves the complete stage to `recover()`.
        self._commit(stage)
        return manifest

    def republish(
        self, previous: Manifest, job_id: str, source: str, job: dict[str, Any]
    ) -> Manifest:
        """Reuse a finished video for a job with the same hash, under its current name."""
        manifest = previous.model_copy(
            update={"job_id": job_id, "source": source, "job": job, "reused": True}
        )
        if previous.video is None or previous.job_id == job_id:
            return manifest
        folder = previous.video.split("/", 1)[0]
        manifest = manifest.model_copy(update={"video": f"{folder}/{job_id}.mp4"})
        stage = self._new_stage()
        try:
            self.fs.copy(self._path(previous.video), f"{stage}/video.mp4")
            self._stage_commit(stage, manifest, folder, ledger=False)
        except BaseException:
            self._drop_stage(stage)
            raise
        self._commit(stage)
        return manifest

    def _stage_commit(
        self, stage: str, manifest: Manifest, folder: str, ledger: bool = True
    ) -> None:
        """Write the commit record last: once it exists the stage is complete and
        `_commit` (or a later `recover`) can finish it without anything else."""
        replaced = self._manifest_at(f"{folder}/{manifest.job_id}.json")
        record = {
            "folder": folder,
            "ledger": ledger,
            "manifest": manifest.model_dump(mode="json"),
            # A different video already published under this name: its ledger entry will
            # point at bytes that are no longer there, so it goes when this one lands.
            "replaces": (
                replaced.job_hash
                if replaced is not None and replaced.job_hash != manifest.job_hash
                else None
            ),
        }
        staged = f"{stage}/{COMMIT}.tmp"
        with self.fs.open(staged, "wb") as handle:
            handle.write(json.dumps(record).encode())
        self.fs.mv(staged, f"{stage}/{COMMIT}")
        _crash_point("staged")

    def _commit(self, stage: str) -> None:
        """Move a complete stage into view: video, manifest, ledger entry; idempotent, so a
        run killed at any step is finished by the next one."""
        text = self.fs.cat_file(f"{stage}/{COMMIT}").decode()
        record = json.loads(text)
        manifest = Manifest.model_validate(record["manifest"])
        folder = record["folder"]
        if manifest.video:
            if self.fs.exists(f"{stage}/video.mp4"):
                self._move_in(f"{stage}/video.mp4", manifest.video)
                _crash_point("video-moved")
            elif self._sha256(manifest.video) != manifest.video_sha256:
                # Another publish took the name since: this one can no longer be finished.
                logger.warning(
                    "dropping a staged publish of %s: its video was replaced", manifest.job_id
                )
                self._drop_stage(stage)
                return
        payload = manifest.model_dump_json(indent=2).encode()
        self._write_bytes(f"{folder}/{manifest.job_id}.json", payload, stage)
        _crash_point("manifest-written")
        if record["ledger"]:
            self._write_bytes(f"{LEDGER}/{manifest.job_hash}.json", payload, stage)
            _crash_point("ledger-written")
        if record["replaces"]:
            self._retire(record["replaces"])
        self._drop_stage(stage)

    def _retire(self, job_hash: str) -> None:
        try:
            self.fs.rm(self._path(LEDGER, f"{job_hash}.json"))
        except FileNotFoundError:
            pass

    def recover(self) -> list[str]:
        """Finish or remove what killed runs left: staged publishes and old-style partial
        files. Returns one line per thing done, for the run's log."""
        done: list[str] = []
        base = self._path(STAGING)
        stages = self.fs.ls(base, detail=True) if self.fs.exists(base) else []
        for entry in stages:
            path = entry["name"].rstrip("/")
            token = path.rsplit("/", 1)[-1]
            if not owner_gone(token, _modified(entry)):
                continue
            if self.fs.exists(f"{path}/{COMMIT}"):
                self._commit(path)
                done.append(f"finished an interrupted publish ({token})")
            else:
                self._drop_stage(path)
                done.append(f"removed an unfinished publish ({token})")
        for folder in (PUBLISHED, QUARANTINE, LEDGER, RUNS, ""):
            pattern = self._path(folder, "*.partial*") if folder else self._path("*.partial*")
            for leftover in self.fs.glob(pattern):
                self.fs.rm(leftover)
                done.append(f"removed a partial file {leftover}")
        return done

    def save_run(self, report: RunReport) -> str:
        payload = report.model_dump_json(indent=2).encode()
        stage = self._new_stage()
        try:
            self._write_bytes(f"{RUNS}/{report.run_id}.json", payload, stage)
            self._write_bytes("latest-run.json", payload, stage)
        finally:
            self._drop_stage(stage)
        return self._path(f"{RUNS}/{report.run_id}.json")

    def save_shard_report(self, run_id: str, shard: int, report: RunReport) -> None:
        """One shard's manifests, for the parent run that fanned it out (flows.fanout)."""
        payload = report.model_dump_json(indent=2).encode()
        stage = self._new_stage()
        try:
            self._write_bytes(f"{RUNS}/{run_id}/shard-{shard}.json", payload, stage)
        finally:
            self._drop_stage(stage)

    def shard_report(self, run_id: str, shard: int) -> RunReport | None:
        text = self._read_text(f"{RUNS}/{run_id}/shard-{shard}.json")
        return None if text is None else RunReport.model_validate_json(text)

    def manifests(self) -> list[Manifest]:
        """Every manifest under published/ and quarantine/, for the gallery."""
        found: list[Manifest] = []
        for folder in (PUBLISHED, QUARANTINE):
            base = self._path(folder)
            if not self.fs.exists(base):
                continue
            for path in sorted(self.fs.glob(f"{base}/*.json")):
                manifest = self._manifest_at(f"{folder}/{path.rsplit('/', 1)[-1]}")
                if manifest is not None:
                    found.append(manifest)
        return found


def _modified(entry: dict[str, Any]) -> float | None:
    """Seconds since the epoch a listed path last changed, where the filesystem says."""
    value = entry.get("mtime") or entry.get("created")
    if value is None:
        return None
    return value.timestamp() if hasattr(value, "timestamp") else float(value)
