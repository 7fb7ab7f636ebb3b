"""Fan-out on a GPU host (issue 19): 1 worker vs one per GPU, a batch of fast-preset jobs.

What it models: a team's multi-GPU host serving the `gpu` work pool, one Prefect worker
per GPU started by scripts/start-gpu-workers.sh (each pinned by CUDA_VISIBLE_DEVICES,
`--limit 1`), a Prefect server (SQLite here: one host), and `vidflow run` fanning a batch
of 8 FastWan-preset jobs (Wan2.1-1.3B shapes, 832x480x81, 3 steps, no guidance) out from
the same host. Weights are random (the arithmetic does not depend on the values): built
once in the 1.3B shapes and saved as a diffusers folder, which the preset loads through
VIDFLOW_MODEL_DIR_FASTWAN2_1_T2V_1_3B exactly as it would load the real weights.

Measures, once with 1 worker (GPU 0) and once with one worker per GPU:
  wall:      first shard created -> last shard ended (Prefect's records)
  busy:      per GPU, the seconds its jobs spent loading and generating (manifest timings;
             each manifest's plan records the CUDA_VISIBLE_DEVICES it ran on)
  speed-up:  wall(1) / wall(N); target (DESIGN.md) >= 0.9 * N

    python -m flows.bench.fanout_gpu --gpus 0,1 --out docs/bench/fanout-gpu.json

Prints a table last and writes the numbers as JSON. Needs N CUDA GPUs.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from flows.bench.fanout import REPO, Bench, wall
from vidflow.settings import affinity_cores

PRESET = "fastwan2.1-t2v-1.3b"
MODEL_ENV = "VIDFLOW_MODEL_DIR_FASTWAN2_1_T2V_1_3B"


def ensure_random_model(folder: Path) -> Path:
    """A diffusers folder of random weights in the Wan2.1-1.3B shapes (built once)."""
    if (folder / "model_index.json").exists():
        return folder
    from generation.bench.bench_wan import build_pipeline

    pipe = build_pipeline("cpu", materialize="cuda")
    pipe.save_pretrained(folder)
    return folder


class GpuBench(Bench):
    """The CPU benchmark's server and pool, with workers started as a GPU host does."""

    script: subprocess.Popen[bytes] | None = None

    def start_gpu_workers(self, gpus: str) -> None:
        self.stop_gpu_workers()
        log = (self.home / f"workers-{gpus}.log").open("ab")
        self.script = subprocess.Popen(
            ["bash", str(REPO / "scripts" / "start-gpu-workers.sh"), "gpu"],
            env=self.env | {"VIDFLOW_GPUS": gpus}, cwd=REPO, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        count = len(gpus.split(","))
        deadline = time.monotonic() + 180
        while self._online() != count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"expected {count} online workers, see {self.home}")
            time.sleep(0.5)

    def stop_gpu_workers(self) -> None:
        if self.script is None:
            return
        os.killpg(self.script.pid, signal.SIGTERM)  # the script stops every worker it started
        self.script.wait(60)
        self.script = None
        from prefect import get_client

        with get_client(sync_client=True) as client:
            for worker in client.read_workers_for_work_pool("gpu"):
                client.request(
                    "DELETE",
                    "/work_pools/{work_pool_name}/workers/{name}",
                    path_params={"work_pool_name": "gpu", "name": worker.name},
                )

    def close(self) -> None:
        self.stop_gpu_workers()
        super().close()


def busy_per_gpu(store: Path) -> dict[str, float]:
    busy: dict[str, float] = {}
    for path in (store / "ledger").glob("*.json"):
        manifest = json.loads(path.read_text())
        gpu = str((manifest.get("plan") or {}).get("cuda_visible_devices"))
        timings = manifest.get("timings") or {}
        busy[gpu] = busy.get(gpu, 0.0) + timings.get("total_s", 0.0) + timings.get("load_s", 0.0)
    return busy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gpus", default="0,1", help="GPU ids, one worker each")
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--model-dir", type=Path, default=Path("/tmp/vidflow-wan1.3b-random"))
    parser.add_argument("--out", type=Path, default=Path("fanout-gpu.json"))
    args = parser.parse_args()

    model = ensure_random_model(args.model_dir)
    home = Path(tempfile.mkdtemp(prefix="vidflow-fanout-gpu-"))
    bench = GpuBench(home)
    bench.env[MODEL_ENV] = str(model)
    # The README's budget for one worker per GPU: the host's cores shared out, in both runs.
    cores = affinity_cores() // len(args.gpus.split(","))
    bench.env["VIDFLOW_CPU_THREADS"] = str(max(1, cores))
    spec = {"preset": PRESET, "steps": args.steps}
    result: dict[str, Any] = {"preset": PRESET, "jobs": args.jobs, "gpus": args.gpus}
    try:
        runs = {}
        for label, gpus in (("one", args.gpus.split(",")[0]), ("all", args.gpus)):
            bench.start_gpu_workers(gpus)
            run = bench.run(f"gpu-{label}", args.jobs, spec)
            run["wall_s"] = wall(run)
            run["busy_per_gpu_s"] = busy_per_gpu(home / f"gpu-{label}" / "store")
            runs[label] = run
        result |= runs
        result["speedup"] = runs["one"]["wall_s"] / runs["all"]["wall_s"]
        result["target_speedup"] = 0.9 * len(args.gpus.split(","))
    finally:
        bench.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))

    print(f"{'workers':>8} {'wall s':>9} {'per-GPU busy s':>32}")
    for label in ("one", "all"):
        run = result[label]
        busy = ", ".join(f"GPU {g}: {s:.1f}" for g, s in sorted(run["busy_per_gpu_s"].items()))
        workers = 1 if label == "one" else len(args.gpus.split(","))
        print(f"{workers:>8} {run['wall_s']:9.1f} {busy:>32}")
    print(f"speed-up {result['speedup']:.2f} (target >= {result['target_speedup']:.2f})")


if __name__ == "__main__":
    main()
