"""Fan-out benchmark on the CPU: orchestration overhead per shard, and scaling with workers.

What it models: a team's Prefect server, the `gpu` work pool and one process worker per
GPU, with `vidflow run` fanning a batch out from a machine without a GPU (a GitHub
runner). Here the "GPUs" are CPU cores: worker i is pinned to core i (taskset), and its
CPU budget (VIDFLOW_CPU_THREADS' default, the pinned affinity: 1 thread) holds every
thread pool of its jobs (torch, ONNX Runtime, OpenCV, watermark, ffmpeg) to that core, so
N workers on N free cores behave like N GPUs of one host. Jobs use the embedded tiny
preset; the real parts run (Prefect server, workers, flow runs, diffusers, watermark,
C2PA, store).

Two measurements, each from Prefect's own records of the shard flow runs:

  overhead: shards of one minimal job each, one per worker, several rounds. A shard's
            overhead is its flow run's life (created -> ended, as the server records it)
            minus the work its flow did (the shard report's started_at -> finished_at):
            worker pick-up, process start, imports, deployment pull step, state changes.
            The same shards give the fixed work of a shard, reported apart: its work
            minus its one job's generation and CPU stages (the generation child's start
            and model load, the safety detectors' and the stamper's set-up, claims).
  scaling:  N*k equal jobs (k per worker) at a size where generation dominates (by
            default a job's generation is several times a shard's fixed work: the tiny
            model's time goes into its steps and its VAE decode), once with 1 worker and
            once with N; the fan-out's wall time is first shard created -> last shard
            ended. Target: wall(N) <= 1.15 * wall(1) / N + the overhead.

    python -m flows.bench.fanout --out docs/bench/fanout.json

It starts its own Prefect server (SQLite, a temporary home) on a free port, creates the
pool, deploys `generate-shard/shard` from prefect.yaml, and stops everything at the end.
Prints a table last and writes the numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from flows.bench.server import PREFECT, isolated_env, start_server

REPO = Path(__file__).resolve().parents[2]
CORES = sorted(os.sched_getaffinity(0))


class Bench:
    """A Prefect server with the gpu pool, the shard deployment and workers, in `home`."""

    def __init__(self, home: Path, pin: bool = False) -> None:
        self.home = home
        self.pin = pin
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self.env = isolated_env(home) | {
            "PREFECT_WORKER_HEARTBEAT_SECONDS": "5",
            "VIDFLOW_CACHE_DIR": str(home / "cache"),
        }
        self.server = start_server(self.env, home / "server.log")
        # This process's own client calls go to the same server (set before prefect loads).
        for name in ("PREFECT_API_URL", "PREFECT_HOME", "PREFECT_SERVER_ANALYTICS_ENABLED"):
            os.environ[name] = self.env[name]
        self.prefect("work-pool", "create", "gpu", "--type", "process")
        self.prefect("--no-prompt", "deploy", "--name", "shard")

    def prefect(self, *args: str) -> None:
        subprocess.run([*PREFECT, *args], env=self.env, cwd=REPO, check=True,
                       capture_output=True, timeout=600)  # fmt: skip

    def set_workers(self, count: int) -> None:
        """Exactly `count` workers online (the parent plans one shard per online worker)."""
        from prefect import get_client

        for name in list(self.workers)[count:]:
            self._stop(self.workers.pop(name))
            with get_client(sync_client=True) as client:  # offline at once, not in 3 beats
                client.request(
                    "DELETE",
                    "/work_pools/{work_pool_name}/workers/{name}",
                    path_params={"work_pool_name": "gpu", "name": name},
                )
        for i in range(len(self.workers), count):
            name = f"worker-{i}"
            log = (self.home / f"{name}.log").open("ab")
            # Its own core, as a GPU worker has its own GPU: the CPU budget follows.
            pin = ["taskset", "-c", str(CORES[i % len(CORES)])] if self.pin else []
            self.workers[name] = subprocess.Popen(
                [*pin, *PREFECT, "worker", "start", "--pool", "gpu", "--limit", "1",
                 "--name", name],
                env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 120
        while self._online() != count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"expected {count} online workers, see {self.home}")
            time.sleep(0.5)

    def _online(self) -> int:
        from prefect import get_client
        from prefect.client.schemas.objects import WorkerStatus

        with get_client(sync_client=True) as client:
            workers = client.read_workers_for_work_pool("gpu")
        return sum(1 for w in workers if w.status == WorkerStatus.ONLINE)

    @staticmethod
    def _stop(process: subprocess.Popen[bytes]) -> None:
        import psutil

        try:
            procs = [*psutil.Process(process.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            procs = []
        for proc in [*procs, psutil.Process(process.pid)]:
            try:
                proc.terminate()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs([*procs], timeout=20)
        process.wait(20)

    def run(self, name: str, count: int, spec: dict[str, Any]) -> dict[str, Any]:
        """One `vidflow run` of `count` jobs; its report and its shards' timings."""
        folder = self.home / name
        (folder / "prompts").mkdir(parents=True)
        jobs = [
            {"id": f"{name}-{i}", "prompt": f"a {name} sailing boat number {i}", "seed": i}
            for i in range(count)
        ]
        (folder / "prompts" / "jobs.yaml").write_text(json.dumps({"defaults": spec, "jobs": jobs}))
        env = self.env | {
            "VIDFLOW_PROMPTS_DIR": str(folder / "prompts"),
            "VIDFLOW_ARTIFACTS_DIR": str(folder / "store"),
            "VIDFLOW_FANOUT_DEPLOYMENT": "generate-shard/shard",
        }
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "vidflow.cli", "run", "--json"], env=env,
                              cwd=REPO, capture_output=True, text=True, timeout=3600,
                              check=False)  # fmt: skip
        parent_s = time.monotonic() - started
        if done.returncode != 0:
            raise RuntimeError(f"vidflow run failed ({done.returncode}): {done.stderr[-3000:]}")
        report = json.loads(done.stdout[done.stdout.index("{") :])
        return {"parent_s": parent_s, "jobs": len(report["manifests"]),
                "statuses": sorted({m["status"] for m in report["manifests"]}),
                "shards": self._shards(report["run_id"], folder / "store")}  # fmt: skip

    def _shards(self, run_id: str, store: Path) -> list[dict[str, Any]]:
        from datetime import datetime

        from prefect import get_client
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=f"{run_id}-shard-"))
            )
        shards: list[dict[str, Any]] = []
        for run in runs:
            index = int(run.name.split("-shard-")[1].split("-")[0])
            report = json.loads((store / "runs" / run_id / f"shard-{index}.json").read_text())
            if report["run_id"] != run.name:  # a resubmitted shard's first try
                shards.append({"shard": index, "superseded": run.name})
                continue
            work = (
                datetime.fromisoformat(report["finished_at"])
                - datetime.fromisoformat(report["started_at"])
            ).total_seconds()
            timings = [m.get("timings") or {} for m in report["manifests"]]
            generation = sum(t.get("total_s", 0.0) for t in timings)
            stages = sum(t.get("safety_s", 0.0) + t.get("provenance_s", 0.0) for t in timings)
            assert run.created and run.start_time and run.end_time
            life = (run.end_time - run.created).total_seconds()
            entered = datetime.fromisoformat(report["started_at"])
            left = datetime.fromisoformat(report["finished_at"])
            shards.append({
                "shard": index, "created": run.created.timestamp(),
                "ended": run.end_time.timestamp(), "life_s": life, "work_s": work,
                "overhead_s": life - work, "jobs": len(report["manifests"]),
                # The shard's work apart from its jobs' generation and CPU stages: what a
                # shard pays once, whatever its size (exact for a one-job shard, where
                # nothing overlaps).
                "generation_s": generation, "cpu_stages_s": stages,
                "fixed_work_s": work - generation - stages,
                "model_load_s": sum(t.get("load_s", 0.0) for t in timings),
                "cpu_threads": [(m.get("plan") or {}).get("cpu_threads")
                                for m in report["manifests"]],
                # Where the overhead goes: created -> Running (pick-up, process start, pull
                # step, flow import), Running -> the flow's body, body end -> Completed.
                "to_running_s": (run.start_time - run.created).total_seconds(),
                "to_body_s": (entered - run.start_time).total_seconds(),
                "to_end_s": (run.end_time - left).total_seconds(),
            })  # fmt: skip
        return sorted(shards, key=lambda s: s["shard"])

    def close(self) -> None:
        for process in self.workers.values():
            self._stop(process)
        self._stop(self.server)


def wall(result: dict[str, Any]) -> float:
    shards = [s for s in result["shards"] if "ended" in s]
    return float(max(s["ended"] for s in shards) - min(s["created"] for s in shards))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="N: workers in the scaling run")
    parser.add_argument("--per-worker", type=int, default=2, help="k: equal jobs per worker")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="overhead runs of N shards (0: skip, use --fixed-overhead)",
    )
    parser.add_argument(
        "--fixed-overhead",
        type=float,
        default=0.0,
        help="with --rounds 0: the overhead (s) the scaling target allows",
    )
    parser.add_argument("--size", type=int, default=256, help="scaling jobs: width = height")
    # 256x256x81, 200 steps: a job's generation is ~53 s of one core (46 s denoising, 9 s
    # VAE decode), ~4-5x a shard's fixed work; at 33 frames and 8 steps it was ~3 s
    # against ~14 s of fixed work, and the scaling run measured process starts.
    parser.add_argument("--frames", type=int, default=81, help="scaling jobs: frames (4k+1)")
    parser.add_argument("--steps", type=int, default=200, help="scaling jobs: denoising steps")
    parser.add_argument(
        "--no-pin", action="store_true", help="leave workers unpinned (budget: every core)"
    )
    parser.add_argument("--out", type=Path, default=Path("fanout.json"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    if args.workers < 2:
        parser.error("--workers must be at least 2: the scaling run compares 1 worker with N")

    home = Path(tempfile.mkdtemp(prefix="vidflow-fanout-bench-"))
    load_before = os.getloadavg()
    pin = not args.no_pin and shutil.which("taskset") is not None
    bench = Bench(home, pin)
    result: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                              "load_before": load_before},
                              "workers_pinned": pin}  # fmt: skip
    try:
        # 1. Overhead: N shards of one minimal job each, one per worker, so none queues.
        bench.set_workers(args.workers)
        small = {"width": 256, "height": 256, "num_frames": 5, "steps": 1}
        bench.run("warmup", args.workers, small)  # builds the tiny model once, warms caches
        rounds = [bench.run(f"overhead{r}", args.workers, small) for r in range(args.rounds)]
        overheads = [s["overhead_s"] for r in rounds for s in r["shards"] if "overhead_s" in s]
        parts = {
            part: statistics.median(s[part] for r in rounds for s in r["shards"] if part in s)
            for part in ("to_running_s", "to_body_s", "to_end_s", "fixed_work_s",
                         "model_load_s", "generation_s", "cpu_stages_s")
        } if rounds else {}  # fmt: skip
        result["overhead"] = {
            "rounds": rounds, "spec": small, "median_parts_s": parts,
            "median_s": statistics.median(overheads) if rounds else args.fixed_overhead,
            "max_s": max(overheads) if rounds else args.fixed_overhead,
            # Not orchestration: the work a shard pays once, inside its flow body.
            "fixed_work_median_s": parts.get("fixed_work_s"),
        }  # fmt: skip
        # 2. Scaling: N*k equal jobs with 1 worker, then with N.
        big = {"width": args.size, "height": args.size, "num_frames": args.frames,
               "steps": args.steps}  # fmt: skip
        count = args.workers * args.per_worker
        bench.set_workers(1)
        one = bench.run("scale1", count, big)
        bench.set_workers(args.workers)
        many = bench.run(f"scale{args.workers}", count, big)
        fixed = result["overhead"]["median_s"]
        limit = 1.15 * wall(one) / args.workers + fixed
        job_s = statistics.median(s["generation_s"] / s["jobs"] for s in one["shards"]
                                  if "generation_s" in s)  # fmt: skip
        fixed_work = result["overhead"]["fixed_work_median_s"]
        result["scaling"] = {"spec": big, "jobs": count, "workers": args.workers,
                             "one": one, "many": many, "wall_one_s": wall(one),
                             "wall_many_s": wall(many), "speedup": wall(one) / wall(many),
                             "limit_s": limit, "meets_target": wall(many) <= limit,
                             "job_generation_s": job_s,
                             "job_over_fixed_work": job_s / fixed_work if fixed_work else None,
                             }  # fmt: skip
    finally:
        bench.close()
        result["machine"]["load_after"] = os.getloadavg()
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))

    o, s = result["overhead"], result["scaling"]
    print(f"load average before {load_before[0]:.1f}, after {result['machine']['load_after'][0]:.1f}"
          f" ({os.cpu_count()} cores; shared machine)")  # fmt: skip
    print(f"{'measure':44} {'value':>10} {'target':>12}")
    print(f"{'overhead per shard, median (s)':44} {o['median_s']:10.2f} {'<= 3.00':>12}")
    print(f"{'overhead per shard, max (s)':44} {o['max_s']:10.2f} {'':>12}")
    for part in ("to_running_s", "to_body_s", "to_end_s"):
        if part in o["median_parts_s"]:
            label = "  of which (median) " + part
            print(f"{label:44} {o['median_parts_s'][part]:10.2f} {'':>12}")
    if o["fixed_work_median_s"] is not None:
        print(f"{'fixed work per shard, median (s)':44} {o['fixed_work_median_s']:10.2f}")
        label = "  of which model load (s)"
        print(f"{label:44} {o['median_parts_s']['model_load_s']:10.2f}")
        label = "job generation at scaling size, median (s)"
        print(f"{label:44} {s['job_generation_s']:10.2f}")
        ratio = s["job_over_fixed_work"]
        print(f"{'  job / fixed work':44} {ratio:10.2f} {'>= 5':>12}")
    label = f"wall, {s['jobs']} jobs, 1 worker (s)"
    print(f"{label:44} {s['wall_one_s']:10.2f}")
    label = f"wall, {s['jobs']} jobs, {s['workers']} workers (s)"
    target = f"<= {s['limit_s']:.2f}"
    print(f"{label:44} {s['wall_many_s']:10.2f} {target:>12}")
    print(f"{'speed-up':44} {s['speedup']:10.2f} {'':>12}")


if __name__ == "__main__":
    main()
