"""Subcommands of `vidflow` for generation: `presets` and `plan`."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from generation.planner import make_plan
from generation.presets import get_preset, list_presets
from generation.probe import Probe, probe_hardware
from vidflow.spec import Job


def _presets(args: argparse.Namespace) -> int:
    table = Table(title="model presets")
    for column in ("preset", "kind", "model", "size", "frames", "steps", "guidance", "attention"):
        table.add_column(column)
    for p in list_presets():
        d = p.defaults
        attention = f"vsa {p.vsa_sparsity:g}" if p.attention == "vsa" else p.attention
        table.add_row(p.name, p.kind, p.source(), f"{d.width}x{d.height}", str(d.num_frames),
                      str(d.steps), str(d.guidance_scale), attention)  # fmt: skip
    Console(width=140).print(table)
    return 0


def _plan(args: argparse.Namespace) -> int:
    preset = get_preset(args.preset)
    d = preset.defaults
    job = Job(id="plan", source="vidflow plan", prompt="", negative_prompt="",
              preset=preset.name, model_id=preset.model_id, model_revision=preset.revision,
              width=d.width, height=d.height, num_frames=d.num_frames, steps=d.steps,
              guidance_scale=d.guidance_scale, seed=0, fps=d.fps)  # fmt: skip
    if args.vram_gib is not None:
        probe = Probe(gpu_name=f"a {args.vram_gib:g} GiB card", compute_capability=(9, 0),
                      gpu_total_gib=args.vram_gib, gpu_free_gib=args.vram_gib)  # fmt: skip
    else:
        probe = probe_hardware()
    plan = make_plan(preset, job, probe)
    print(f"{preset.name} at {job.width}x{job.height}, {job.num_frames} frames, on "
          f"{probe.gpu_name or 'the CPU'}:")  # fmt: skip
    print(plan.model_dump_json(indent=2))
    return 0 if plan.fits else 1


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    presets = subparsers.add_parser("presets", help="list the model presets")
    presets.set_defaults(handler=_presets)
    plan = subparsers.add_parser(
        "plan",
        help="show the plan for a preset on this GPU or a hypothetical one",
        description="Exit code 1 when the job does not fit.",
    )
    plan.add_argument("--preset", default="wan2.1-t2v-1.3b")
    plan.add_argument("--vram-gib", type=float, help="plan for a card with this much memory")
    plan.set_defaults(handler=_plan)
