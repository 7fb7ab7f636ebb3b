"""GPU telemetry: the sampler's record with NVML (a stand-in module, as no GPU is here) and
without it (this machine)."""

from __future__ import annotations

import sys
import time
import types

import pytest

from generation.telemetry import MAX_SAMPLES, GpuSampler, summarize


def test_without_nvml_the_record_says_so_and_holds_no_numbers() -> None:
    record = GpuSampler(interval_s=0.01).start().stop()
    assert record["available"] is False and "NVML" in record["reason"]
    assert set(record) == {"available", "reason"}


def _fake_nvml(readings: list[int]) -> types.ModuleType:
    """The few NVML calls the sampler makes; utilisation walks through `readings`."""
    nvml = types.ModuleType("pynvml")
    nvml.NVML_CLOCK_SM, nvml.NVML_CLOCK_MEM, nvml.NVML_TEMPERATURE_GPU = 1, 2, 0  # type: ignore[attr-defined]
    calls = iter(readings)
    nvml.nvmlInit = lambda: None  # type: ignore[attr-defined]
    nvml.nvmlShutdown = lambda: None  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetHandleByIndex = lambda index: f"gpu{index}"  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetHandleByUUID = lambda uuid: "gpu-by-uuid"  # type: ignore[attr-defined]

    def rates(handle: str) -> types.SimpleNamespace:
        return types.SimpleNamespace(gpu=next(calls, readings[-1]), memory=40)

    nvml.nvmlDeviceGetUtilizationRates = rates  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=3 * 2**30)  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetClockInfo = lambda h, kind: 1980 if kind == 1 else 3201  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetPowerUsage = lambda h: 450_000  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetTemperature = lambda h, kind: 55  # type: ignore[attr-defined]
    return nvml


def test_with_nvml_samples_are_taken_over_the_job_and_summarised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml([10, 90, 100]))
    sampler = GpuSampler(interval_s=0.01).start()
    time.sleep(0.2)
    record = sampler.stop()
    assert record["available"] is True and record["count"] >= 3
    assert record["max"]["gpu_util_pct"] == 100.0 and record["mean"]["mem_used_gib"] == 3.0
    first = record["samples"][0]
    assert (first["sm_clock_mhz"], first["mem_clock_mhz"], first["power_w"]) == (1980, 3201, 450)
    assert first["gpu_util_pct"] == 10.0


def test_long_jobs_keep_a_bounded_thinned_record() -> None:
    samples = [{"t_s": i * 0.5, "gpu_util_pct": float(i % 100)} for i in range(1000)]
    record = summarize(samples, 0.5)
    assert record["count"] == 1000 and len(record["samples"]) <= MAX_SAMPLES
    assert record["samples"][0]["t_s"] == 0.0 and record["max"]["gpu_util_pct"] == 99.0
