"""Clean-clip false-match run with progress lines (partial results usable)."""

import sys
import time
from pathlib import Path

from provenance.bench.watermark_robustness import PLATFORM_CRF, clean_footage, encode
from provenance.verify import read_watermark

count = int(sys.argv[1])
work = Path("/tmp/h14/cleanwork")
work.mkdir(exist_ok=True)
found = 0
for i, clip in enumerate(clean_footage(count, 1 + 10_000)):
    path = work / "clean.mp4"
    encode(clip, path, PLATFORM_CRF)
    t = time.perf_counter()
    r = read_watermark(path)
    found += r.found
    print(
        f"clean {i} {clip.shape[2]}x{clip.shape[1]} found={r.found} sync={r.sync_score} read_s={time.perf_counter() - t:.2f} total_false={found}",
        flush=True,
    )
