"""GPU telemetry over a job: utilisation, memory and clock samples read through NVML.

A long job (a 14B 720p video takes half an hour) needs more than its wall time in the
record: whether the GPU was busy, throttled or near its memory limit. Samples are taken
by a background thread (NVML calls are cheap and do not touch the CUDA context); where
there is no NVML (no NVIDIA driver, or no GPU) the record says so and holds no numbers.
"""

from __future__ import annotations

import threading
import time
from typing import Any

MAX_SAMPLES = 240  # kept in the manifest; longer jobs keep every other one, and so on


def _nvml_handle(pynvml: Any) -> Any:
    """The NVML device of the GPU torch uses (CUDA_VISIBLE_DEVICES renumbers devices)."""
    try:
        import torch

        uuid = str(torch.cuda.get_device_properties(0).uuid)
        return pynvml.nvmlDeviceGetHandleByUUID(f"GPU-{uuid}")
    except Exception:  # noqa: BLE001 - an older driver or torch: fall back to the first GPU
        return pynvml.nvmlDeviceGetHandleByIndex(0)


class GpuSampler:
    """Samples the GPU every `interval_s` between `start()` and `stop()`.

    `stop()` returns the record: {"available": False, "reason": ...} without NVML, else the
    sample count, the mean and peak of each figure, and the samples themselves.
    """

    def __init__(self, interval_s: float = 0.5) -> None:
        self.interval_s = interval_s
        self.samples: list[dict[str, float]] = []
        self.reason = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._nvml: Any = None
        self._handle: Any = None

    def start(self) -> GpuSampler:
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml, self._handle = pynvml, _nvml_handle(pynvml)
        except Exception as exc:  # noqa: BLE001 - no driver, no GPU, no library: say which
            self.reason = f"NVML unavailable: {type(exc).__name__}: {exc}"
            return self
        self._started = time.perf_counter()
        self._thread = threading.Thread(target=self._run, name="vidflow-nvml", daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> dict[str, float]:
        nvml, handle = self._nvml, self._handle
        rates = nvml.nvmlDeviceGetUtilizationRates(handle)
        memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        return {
            "t_s": round(time.perf_counter() - self._started, 2),
            "gpu_util_pct": float(rates.gpu),
            "mem_util_pct": float(rates.memory),
            "mem_used_gib": round(memory.used / 2**30, 3),
            "sm_clock_mhz": float(nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM)),
            "mem_clock_mhz": float(nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_MEM)),
            "power_w": nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0,
            "temperature_c": float(
                nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)
            ),
        }

    def _run(self) -> None:
        while True:
            try:
                self.samples.append(self._sample())
            except Exception as exc:  # noqa: BLE001 - a failing query ends sampling, not the job
                self.reason = f"NVML query failed: {type(exc).__name__}: {exc}"
                return
            if self._stop.wait(self.interval_s):
                return

    def stop(self) -> dict[str, Any]:
        if self._thread is None:
            return {"available": False, "reason": self.reason}
        self._stop.set()
        self._thread.join()
        try:
            self._nvml.nvmlShutdown()
        except Exception:  # noqa: BLE001, S110 - shutting down a library that worked a moment ago
            pass
        return summarize(self.samples, self.interval_s, self.reason)


def summarize(
    samples: list[dict[str, float]], interval_s: float, reason: str = ""
) -> dict[str, Any]:
    """Mean and peak of each figure over the samples, and the samples thinned to MAX_SAMPLES."""
    record: dict[str, Any] = {"available": bool(samples), "interval_s": interval_s}
    if reason:
        record["reason"] = reason
    if not samples:
        return record
    keys = [k for k in samples[0] if k != "t_s"]
    record["count"] = len(samples)
    record["mean"] = {k: round(sum(s[k] for s in samples) / len(samples), 2) for k in keys}
    record["max"] = {k: max(s[k] for s in samples) for k in keys}
    step = -(-len(samples) // MAX_SAMPLES)
    record["samples"] = samples[::step]
    return record
