"""Job claims in the store: one holder at a time, renewal, release, lapse and take-over."""

from __future__ import annotations

import multiprocessing as mp
import socket
import time
from pathlib import Path
from typing import Any

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from vidflow import claims as claims_module
from vidflow.claims import Claims, new_owner
from vidflow.store import Store


def test_one_holder_until_release_then_the_next(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    a, b = Claims(store, "a", lease_s=60), Claims(store, "b", lease_s=60)
    first = a.claim("job1")
    assert first is not None and first.number == 0
    assert b.claim("job1") is None, "a live claim must not be taken"
    assert a.claim("job1") is not None, "the holder renews its own claim"
    assert b.claim("job2") is not None, "other keys are free"
    a.release(first)
    second = b.claim("job1")
    assert second is not None and second.owner == "b" and second.number == 1
    assert a.renew(first) is None, "a released claim taken by another is lost"


def test_a_lapsed_claim_is_taken_over_and_its_old_holder_learns_it(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    dead, alive = Claims(store, "dead", lease_s=0.3), Claims(store, "alive", lease_s=60)
    old = dead.claim("job")
    assert old is not None and alive.claim("job") is None
    time.sleep(0.4)
    new = alive.claim("job")
    assert new is not None and new.number == old.number + 1
    assert dead.renew(old) is None
    dead.release(old)  # a late release must not free the new holder's claim
    current = alive.current("job")
    assert current is not None and current.owner == "alive" and not current.expired()


def test_keep_renews_in_the_background_and_releases_at_the_end(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    holder, other = Claims(store, "holder", lease_s=0.4), Claims(store, "other", lease_s=60)
    with holder.keep() as held:
        assert held.take("job")
        time.sleep(1.2)  # three leases: only renewal keeps it
        assert other.claim("job") is None
        assert held.all() == ["job"]
    assert other.claim("job") is not None, "released when the block ended"


def _race(root: str, key: str, barrier: Any, results: Any) -> None:
    claims = Claims(Store(root), new_owner("race"), lease_s=60)
    barrier.wait()
    claim = claims.claim(key)
    results.put(claim.owner if claim else "")


@pytest.mark.parametrize("lapsed", [False, True], ids=["free", "lapsed"])
def test_racing_processes_get_exactly_one_winner(tmp_path: Path, lapsed: bool) -> None:
    root = str(tmp_path / "store")
    if lapsed:
        assert Claims(Store(root), "dead", lease_s=0.01).claim("job") is not None
        time.sleep(0.05)
    context = mp.get_context("spawn")
    barrier, results = context.Barrier(6), context.Queue()
    procs = [context.Process(target=_race, args=(root, "job", barrier, results)) for _ in range(6)]
    for proc in procs:
        proc.start()
    owners = [results.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(30)
    winners = [o for o in owners if o]
    assert len(winners) == 1, owners
    current = Claims(Store(root), "x", lease_s=1).current("job")
    assert current is not None and current.owner == winners[0]


class NoExclusiveFS(MemoryFileSystem):
    """An object store without create-exclusive: mode 'x' is refused."""

    protocol = "noexcl"

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if "x" in mode:
            raise ValueError(f"unsupported mode {mode}")
        return super()._open(path, mode, **kwargs)


def test_without_exclusive_create_write_and_read_back_decide(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(claims_module, "READ_BACK_WAIT_S", 0.01)
    fsspec.register_implementation("noexcl", NoExclusiveFS, clobber=True)
    store = Store("noexcl://claims-test")
    a, b = Claims(store, "a", lease_s=60), Claims(store, "b", lease_s=60)
    first = a.claim("job")
    assert first is not None and b.claim("job") is None
    a.release(first)
    assert b.claim("job") is not None
    store.fs.rm(store.root, recursive=True)


def test_a_claim_file_being_written_counts_as_taken(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    (tmp_path / "store" / "claims" / "job").mkdir(parents=True)
    (tmp_path / "store" / "claims" / "job" / "0.json").write_bytes(b"")
    assert Claims(store, "b", lease_s=60).claim("job") is None


def test_the_lease_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lease"):
        Claims(Store(tmp_path), "a", lease_s=0)


def test_a_claim_of_a_dead_process_on_this_host_lapses_at_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    child = mp.get_context("spawn").Process(target=time.sleep, args=(0,))
    child.start()
    child.join()
    dead = f"run@{socket.gethostname()}-{child.pid}-abcd1234"
    assert Claims(store, dead, lease_s=600).claim("job") is not None
    elsewhere = Claims(store, "run@another-host-1-abcd1234", lease_s=600)
    taken = elsewhere.claim("job")
    assert taken is not None and taken.number == 1, "the dead holder is not waited for"
    assert Claims(store, new_owner(), lease_s=600).claim("job") is None, "a live remote holder is"
