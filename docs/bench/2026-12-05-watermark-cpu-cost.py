"""Per-core CPU seconds (process_time, one thread) to embed and decode an 81-frame 480x832 video."""

import json
import time
from pathlib import Path

import cv2

cv2.setNumThreads(1)
from provenance.bench.watermark_cost import PAYLOAD, footage
from provenance.watermark import embed_video, read_video

video = footage(81, 832, 480)
embed_video(video[:4], PAYLOAD, workers=1)
rows = {}
for run in range(2):
    t = time.process_time()
    marked = embed_video(video, PAYLOAD, workers=1)
    e = time.process_time() - t
    t = time.process_time()
    r = read_video(marked)
    d = time.process_time() - t
    t = time.process_time()
    u = read_video(video)
    du = time.process_time() - t
    assert r.payload == PAYLOAD and not u.found
    rows[run] = {
        "embed_cpu_s": round(e, 3),
        "decode_marked_cpu_s": round(d, 3),
        "decode_unmarked_cpu_s": round(du, 3),
    }
    print(rows[run], flush=True)
Path("cpu-cost.json").write_text(json.dumps(rows, indent=2))
