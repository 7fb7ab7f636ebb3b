"""Time `vidflow verify` on an 81-frame 832x480 stamped video and on 1080p/VP9 deliveries."""

import statistics
import subprocess
import sys
import time
from pathlib import Path

from generation.presets import resolve_job
from provenance.bench.watermark_robustness import animate, attack, sample_images
from provenance.stamp import Stamper
from vidflow.settings import Settings
from vidflow.spec import JobSpec

work = Path("/tmp/h14/vt")
work.mkdir(exist_ok=True)
frames = animate(sample_images()[1], 3, (832, 480), 81)
job = resolve_job(JobSpec(id="clip", prompt="a pan"), "clip.yaml", "tiny")
Stamper(Settings(cache_dir=work / "cache")).stamp(frames, 16, work / "v.mp4", job)
files = {
    "published 832x480 81 frames": work / "v.mp4",
    "delivered 1920x1080": attack(work / "v.mp4", "to 1920x1080", work).rename(work / "hd.mp4"),
    "unmarked (every reading)": None,
}
from provenance.bench.watermark_robustness import encode

encode(frames, work / "plain.mp4", 23)
files["unmarked (every reading)"] = work / "plain.mp4"
for name, path in files.items():
    times = []
    for _ in range(3):
        t = time.perf_counter()
        rc = subprocess.run(
            [sys.executable, "-m", "vidflow.cli", "verify", str(path)],
            capture_output=True,
            check=False,
        ).returncode
        times.append(time.perf_counter() - t)
    print(
        f"{name}: exit {rc}, wall s {[round(x, 2) for x in times]} median {statistics.median(times):.2f}",
        flush=True,
    )
