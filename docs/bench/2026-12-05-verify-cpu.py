"""(Run docs/bench/2026-12-05-verify-files.py first: it makes the files.) CPU seconds of `vidflow verify` (this process + ffmpeg children), load-independent-ish."""

import resource
import subprocess
import sys
import time

for name in ["v.mp4", "hd.mp4", "plain.mp4"]:
    cpu = []
    for _ in range(2):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "vidflow.cli", "verify", f"/tmp/h14/vt/{name}"],
            capture_output=True,
            check=False,
        )
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    print(name, "cpu s", [round(c, 2) for c in cpu], "wall s (shared)", round(wall, 2), flush=True)
before = resource.getrusage(resource.RUSAGE_CHILDREN)
subprocess.run([sys.executable, "-c", "import vidflow.cli as c; c.build_parser()"], check=True)
after = resource.getrusage(resource.RUSAGE_CHILDREN)
print(
    "startup+imports cpu s",
    round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2),
)
