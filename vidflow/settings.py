"""The one settings object. Every value can be set by an env var with prefix VIDFLOW_."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIDFLOW_", extra="ignore")

    prompts_dir: Path = Field(Path("prompts"), description="Where prompt files live.")
    artifacts_dir: Path = Field(
        Path("artifacts"), description="Local store root: published/, quarantine/, reports."
    )
    store_url: str | None = Field(
        None, description="fsspec URL of the artifact store; default: artifacts_dir."
    )
    cache_dir: Path = Field(
        Path.home() / ".cache" / "vidflow",
        description="Built-in model weights (tiny preset), dev certificate, work files.",
    )
    default_preset: str = Field("tiny", description="Model preset for jobs that name none.")
    label_text: str = Field("AI-generated", description="Visible label drawn on every video.")
    label_enabled: bool = True
    label_corner: Literal["top-left", "top-right", "bottom-left", "bottom-right"] = Field(
        "bottom-right", description="Corner of the visible label."
    )
    label_height_share: float = Field(
        0.07, gt=0, le=0.5, description="Label font size / frame height."
    )
    label_opacity: float = Field(0.9, gt=0, le=1, description="Label opacity, 1 = opaque.")
    policy_path: Path | None = Field(
        None, description="Moderation policy YAML; default: the one shipped with vidflow."
    )
    safety_model: str = Field("ViT-B-32", description="open_clip model for frame scoring.")
    safety_pretrained: str | None = Field(
        None,
        description="open_clip pretrained tag or local checkpoint file; None: random weights, "
        "and the manifest says calibrated: false.",
    )
    safety_frames: int = Field(8, ge=1, le=64, description="Frames sampled for safety scoring.")
    c2pa_cert: Path | None = Field(None, description="PEM certificate chain for C2PA signing.")
    c2pa_key: SecretStr | None = Field(
        None, description="PEM private key (a path or the PEM text); never logged."
    )
    reviewer: str | None = Field(
        None,
        description="Who decides with `vidflow review approve|reject` when --reviewer is not "
        "given; default: git config user.name and user.email.",
    )
    generation_timeout_s: float = Field(
        3600.0, gt=0, description="Wall-clock limit for one batch's generation child process."
    )
    gpus: str | None = Field(
        None,
        description="Local mode: GPU ids, comma separated, one generation child each "
        "(CUDA_VISIBLE_DEVICES per child); default: every GPU this process sees.",
    )
    fanout_deployment: str | None = Field(
        None,
        description="'flow/deployment' of the shard deployment (generate-shard/shard): when "
        "set, a run fans its jobs out to that deployment's work pool instead of generating "
        "in process.",
    )
    fanout_slots: int | None = Field(
        None, ge=1, description="GPUs to plan shards for; default: the pool's online workers."
    )
    fanout_worker_grace_s: float = Field(
        300.0,
        gt=0,
        description="A fan-out fails, naming the pool, once its pool has had no online "
        "worker this long while shards wait to be taken (instead of waiting forever).",
    )
    claim_lease_s: float = Field(
        120.0,
        gt=0,
        description="A job or shard claim lapses this long after its holder last renewed it "
        "(renewed every quarter lease), so a dead worker's jobs are taken again.",
    )
    cpu_threads: int | None = Field(
        None,
        ge=1,
        description="CPU threads each CPU-parallel part of a job may use (torch in the "
        "generation child and in safety scoring, ONNX Runtime, OpenCV, the watermark pool, "
        "ffmpeg); default: the cores this process may run on (its CPU affinity).",
    )

    def cpu_budget(self) -> int:
        """The worker's CPU budget: `cpu_threads`, else the cores its affinity allows.

        Every library with a thread pool of its own sizes it from the whole machine by
        default, so two workers on one host each ran (cores x libraries) threads and
        oversubscribed it. Pinning a worker (taskset) alone is enough: its children inherit
        the affinity, and this budget follows it.
        """
        return self.cpu_threads or affinity_cores()


def affinity_cores() -> int:
    """The CPU cores this process may run on (taskset, cgroup cpusets), else all of them."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
