"""Model presets (read from presets.yaml) and the resolution of a written job against one."""

from __future__ import annotations

import hashlib
import os
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field

from vidflow.errors import ModelUnavailableError, SpecError
from vidflow.spec import Job, JobSpec, StepCache

BUILTIN_TINY = "builtin:tiny"
# Built-in models with random weights, by model id: the kind of tiny pipeline to build.
BUILTINS = {BUILTIN_TINY: "t2v", "builtin:tiny-ti2v": "ti2v"}


class PresetDefaults(BaseModel):
    width: int = Field(description="Pixels, a multiple of 16.")
    height: int = Field(description="Pixels, a multiple of 16.")
    num_frames: int = Field(description="Frames, 4k+1.")
    steps: int = Field(description="Denoising steps.")
    guidance_scale: float = Field(description="Classifier-free guidance; <=1 turns it off.")
    fps: int = Field(description="Frames per second of the mp4.")
    shift: float = Field(description="Flow-matching scheduler shift.")


class PresetMemory(BaseModel):
    """Memory figures (GiB in bf16) the planner adds up to decide whether a job fits."""

    transformer_gib: float
    text_encoder_gib: float
    vae_gib: float
    activation_gib_per_mpx_frame: float = Field(
        description="Transformer activation peak per million pixels per frame of the video."
    )
    decode_gib_per_mpx: float = Field(
        description="VAE decode working memory per million pixels decoded at once (the "
        "frame, or one tile): the VAE decodes a latent frame at a time, so frames add only "
        "their output."
    )


class Preset(BaseModel):
    name: str
    model_id: str = Field(description="Hub id, local folder, or builtin:tiny.")
    revision: str = Field(description="Model revision; part of every job's identity.")
    kind: Literal["t2v", "ti2v"] = Field(description="Text-to-video or text+image-to-video.")
    description: str = ""
    defaults: PresetDefaults
    memory: PresetMemory
    size_multiple: int = Field(
        16,
        description="Width and height must be multiples of this: the VAE's spatial "
        "compression times the transformer's patch (8x2 for Wan2.1, 16x2 for Wan2.2 TI2V).",
    )
    attention: Literal["dense", "vsa"] = Field(
        "dense",
        description="Self-attention as the checkpoint was trained: dense, or Video Sparse "
        "Attention (needs the checkpoint's to_gate_compress weights).",
    )
    vsa_sparsity: float = Field(
        0.8, ge=0.0, lt=1.0, description="VSA: share of key cubes each query cube skips."
    )

    @property
    def env_var(self) -> str:
        """The variable that points this preset at a local folder of weights."""
        return "VIDFLOW_MODEL_DIR_" + re.sub(r"[^A-Z0-9]", "_", self.name.upper())

    def source(self) -> str:
        """Where the weights come from: the env override, or the preset's model id."""
        return os.environ.get(self.env_var) or self.model_id


@lru_cache(maxsize=1)
def _registry() -> dict[str, Preset]:
    text = resources.files("generation").joinpath("presets.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    return {name: Preset(name=name, **fields) for name, fields in data.items()}


def list_presets() -> list[Preset]:
    return list(_registry().values())


def get_preset(name: str) -> Preset:
    try:
        return _registry()[name]
    except KeyError:
        known = ", ".join(sorted(_registry()))
        raise KeyError(f"unknown preset {name!r}; known presets: {known}") from None


def resolve_job(spec: JobSpec, source: str, default_preset: str) -> Job:
    """Fill every field the job left out from its preset's defaults."""
    name = spec.preset or default_preset
    try:
        preset = get_preset(name)
    except KeyError as exc:
        raise SpecError(source, exc.args[0], job=spec.id, field="preset") from None
    if preset.kind == "t2v" and spec.image:
        raise SpecError(
            source, f"preset {name} is text-to-video and takes no image", job=spec.id, field="image"
        )
    if preset.kind == "ti2v" and not spec.image:
        raise SpecError(source, f"preset {name} needs an input image", job=spec.id, field="image")
    d = preset.defaults
    for field, size in (("width", spec.width or d.width), ("height", spec.height or d.height)):
        if size % preset.size_multiple:
            raise SpecError(
                source,
                f"preset {name} makes sizes in multiples of {preset.size_multiple} px, got {size}",
                job=spec.id,
                field=field,
            )
    image, image_sha256 = spec.image, None
    if image is not None:
        path = (Path(source).parent / image).resolve()
        if not path.is_file():
            raise SpecError(source, f"image not found: {path}", job=spec.id, field="image")
        image = str(path)
        image_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    return Job(
        id=spec.id,
        source=source,
        prompt=spec.prompt,
        negative_prompt=spec.negative_prompt,
        preset=preset.name,
        model_id=preset.model_id,
        model_revision=preset.revision,
        width=spec.width or d.width,
        height=spec.height or d.height,
        num_frames=spec.num_frames or d.num_frames,
        steps=spec.steps or d.steps,
        guidance_scale=d.guidance_scale if spec.guidance_scale is None else spec.guidance_scale,
        seed=spec.seed,
        fps=spec.fps or d.fps,
        image=image,
        tags=tuple(spec.tags),
        owner=spec.owner,
        step_cache=spec.step_cache if isinstance(spec.step_cache, StepCache) else None,
        image_sha256=image_sha256,
    )


def locate_weights(preset: Preset, cache_dir: Path) -> Path | str:
    """The folder or hub id to load, or a clear error naming what is missing and how to fix it."""
    from generation.tiny import ensure_tiny_model

    source = preset.source()
    if source in BUILTINS:
        return ensure_tiny_model(cache_dir, BUILTINS[source])
    folder = Path(source).expanduser()
    if folder.is_absolute() or source.startswith("."):
        if not (folder / "model_index.json").is_file():
            raise ModelUnavailableError(
                f"preset {preset.name}: {folder} has no model_index.json; put the diffusers "
                f"weights of {preset.model_id} there (e.g. `huggingface-cli download "
                f"{preset.model_id} --local-dir {folder}` on a machine with network)"
            )
        return folder
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(source, revision=preset.revision, local_files_only=True))
    except LocalEntryNotFoundError:
        raise ModelUnavailableError(
            f"preset {preset.name}: the weights of {source} (revision {preset.revision}) are "
            f"not in the local Hugging Face cache and vidflow never downloads at run time. "
            f"Run `huggingface-cli download {source}` on a machine with network, or set "
            f"{preset.env_var} to a local folder holding model_index.json and its "
            f"subfolders (transformer/, vae/, text_encoder/, tokenizer/, scheduler/)."
        ) from None
