"""Shard sizing: one preset per shard, every GPU busy, nothing lost or doubled."""

from __future__ import annotations

import pytest

from flows.shards import assign_to_gpus, split_into_shards, visible_gpu_ids


def flat(shards: list[list[str]]) -> list[str]:
    return sorted(job for shard in shards for job in shard)


@pytest.mark.parametrize("slots", [1, 2, 3, 8, 50])
def test_every_job_lands_in_exactly_one_shard_of_its_preset(slots: int) -> None:
    jobs = [f"a{i}" for i in range(7)] + [f"b{i}" for i in range(3)]
    presets = [job[0] for job in jobs]
    shards = split_into_shards(jobs, presets, slots)
    assert flat(shards) == sorted(jobs)
    assert all(len({job[0] for job in shard}) == 1 for shard in shards)
    assert len(shards) >= min(slots, len(jobs))
    assert len(shards) >= 2, "two presets never share a shard"


def test_shards_of_one_preset_are_near_equal_so_no_gpu_waits() -> None:
    shards = split_into_shards([str(i) for i in range(10)], ["p"] * 10, 4)
    assert sorted(map(len, shards)) == [2, 2, 3, 3]


def test_a_preset_gets_gpus_in_proportion_to_its_jobs() -> None:
    jobs = [f"a{i}" for i in range(6)] + ["b0", "b1"]
    shards = split_into_shards(jobs, [j[0] for j in jobs], 4)
    assert sorted(len(s) for s in shards if s[0][0] == "a") == [2, 2, 2]
    assert [len(s) for s in shards if s[0][0] == "b"] == [2]


def test_assign_packs_shards_onto_gpus_largest_first() -> None:
    loads = assign_to_gpus([["a"] * 3, ["b"] * 2, ["c"] * 2, ["d"]], 2)
    assert sorted(map(len, loads)) == [4, 4]
    assert assign_to_gpus([["a"]], 4) == [["a"]], "no empty child"


def test_visible_gpus_come_from_the_setting_then_cuda_visible_devices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert visible_gpu_ids("0, 1") == ["0", "1"]
    assert visible_gpu_ids(None) == ["2", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert visible_gpu_ids(None) == []
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert visible_gpu_ids(None) == []  # this CPU machine: one unpinned child


def test_zero_slots_is_an_error() -> None:
    with pytest.raises(ValueError, match="slot"):
        split_into_shards(["a"], ["p"], 0)
