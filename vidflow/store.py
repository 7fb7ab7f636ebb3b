"""The artifact store: finished videos, their manifests, and the ledger of finished jobs.

Layout under the store root (a local folder by default, any fsspec URL in production):

    published/<job_id>.mp4, published/<job_id>.json   what readers and the gallery see
    quarantine/<job_id>.mp4, quarantine/<job_id>.json flagged by output safety, never published
    ledger/<job_hash>.json                             one manifest per finished job
    runs/<run_id>.json, latest-run.json                one RunReport per flow run
    runs/<run_id>/shard-<n>.json                       a fanned-out shard's manifests
    claims/<key>/<n>.json                              who makes a job now (vidflow.claims)

Every file is written to a temporary name and renamed into place, and the ledger entry is
written last: a ledger entry therefore proves its video is complete, and a crash at any
point leaves either the old state or the new one, never half a video.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from pathlib import Path
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from vidflow.manifest import Manifest, RunReport

logger = logging.getLogger(__name__)

PUBLISHED = "published"
QUARANTINE = "quarantine"
LEDGER = "ledger"
RUNS = "runs"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Store:
    """A folder of finished work, addressed by job hash, behind an fsspec filesystem."""

    def __init__(self, url: str | Path) -> None:
        fs, root = fsspec.url_to_fs(str(url))
        self.fs: fsspec.AbstractFileSystem = fs
        self.root = root.rstrip("/")
        self.url = str(url)

    @property
    def local_root(self) -> Path | None:
        """The root as a local path, when the store is a local folder (for the gallery)."""
        return Path(self.root) if isinstance(self.fs, LocalFileSystem) else None

    def _path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def _write_bytes(self, rel: str, data: bytes) -> None:
        final = self._path(rel)
        tmp = f"{final}.partial-{uuid.uuid4().hex[:8]}"
        self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
        with self.fs.open(tmp, "wb") as handle:
            handle.write(data)
        self.fs.mv(tmp, final)

    def _put_file(self, local: Path, rel: str) -> None:
        final = self._path(rel)
        tmp = f"{final}.partial-{uuid.uuid4().hex[:8]}"
        self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
        self.fs.put_file(str(local), tmp)
        self.fs.mv(tmp, final)

    def _read_json(self, rel: str) -> str | None:
        path = self._path(rel)
        if not self.fs.exists(path):
            return None
        with self.fs.open(path, "r", encoding="utf-8") as handle:
            text: str = handle.read()
        return text

    def exists(self, rel: str) -> bool:
        return bool(self.fs.exists(self._path(rel)))

    def lookup(self, job_hash: str) -> Manifest | None:
        """The finished manifest for this job hash, if its video is still in the store."""
        text = self._read_json(f"{LEDGER}/{job_hash}.json")
        if text is None:
            return None
        try:
            manifest = Manifest.model_validate_json(text)
        except ValueError:
            logger.warning("ignoring unreadable ledger entry %s", job_hash)
            return None
        if manifest.video and not self.exists(manifest.video):
            logger.warning("ledger entry %s names a missing video; will regenerate", job_hash)
            return None
        return manifest

    def save(self, manifest: Manifest, video: Path | None) -> Manifest:
        """Store a finished job: video, then its manifest, then its ledger entry."""
        folder = {"published": PUBLISHED, "quarantined": QUARANTINE}.get(manifest.status)
        if folder is None:
            raise ValueError(f"only published or quarantined jobs are stored, not {manifest}")
        if video is not None:
            rel_video = f"{folder}/{manifest.job_id}.mp4"
            self._put_file(video, rel_video)
            manifest = manifest.model_copy(
                update={"video": rel_video, "video_sha256": file_sha256(video)}
            )
        payload = manifest.model_dump_json(indent=2).encode()
        self._write_bytes(f"{folder}/{manifest.job_id}.json", payload)
        self._write_bytes(f"{LEDGER}/{manifest.job_hash}.json", payload)
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
        rel_video = f"{folder}/{job_id}.mp4"
        self.fs.copy(self._path(previous.video), self._path(f"{rel_video}.partial"))
        self.fs.mv(self._path(f"{rel_video}.partial"), self._path(rel_video))
        manifest = manifest.model_copy(update={"video": rel_video})
        self._write_bytes(f"{folder}/{job_id}.json", manifest.model_dump_json(indent=2).encode())
        return manifest

    def save_run(self, report: RunReport) -> str:
        payload = report.model_dump_json(indent=2).encode()
        self._write_bytes(f"{RUNS}/{report.run_id}.json", payload)
        self._write_bytes("latest-run.json", payload)
        return self._path(f"{RUNS}/{report.run_id}.json")

    def save_shard_report(self, run_id: str, shard: int, report: RunReport) -> None:
        """One shard's manifests, for the parent run that fanned it out (flows.fanout)."""
        payload = report.model_dump_json(indent=2).encode()
        self._write_bytes(f"{RUNS}/{run_id}/shard-{shard}.json", payload)

    def shard_report(self, run_id: str, shard: int) -> RunReport | None:
        text = self._read_json(f"{RUNS}/{run_id}/shard-{shard}.json")
        return None if text is None else RunReport.model_validate_json(text)

    def manifests(self) -> list[Manifest]:
        """Every manifest under published/ and quarantine/, for the gallery."""
        found: list[Manifest] = []
        for folder in (PUBLISHED, QUARANTINE):
            base = self._path(folder)
            if not self.fs.exists(base):
                continue
            for path in sorted(self.fs.glob(f"{base}/*.json")):
                with self.fs.open(path, "r", encoding="utf-8") as handle:
                    found.append(Manifest.model_validate_json(handle.read()))
        return found
