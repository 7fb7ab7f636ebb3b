"""Claims in the store: who is making a job (or running a shard) now, with a lease.

Two runs that share a store (two pushes, a push and a schedule, a resubmitted shard) must
never make the same job at once nor write each other's files. Before a job is generated its
runner claims the job hash; the claim names an owner and expires unless the owner renews
it, so a claim left by a dead worker lapses and the job is taken again.

A claim is a series of files, `claims/<key>/<n>.json`; the highest `n` is the current
claim. Taking a free key creates `0.json`; taking over a lapsed claim creates `<n+1>.json`.
Each file is created exclusively (`open(..., "xb")`, which local folders and most fsspec
filesystems honour), so of two runs racing for the same number exactly one wins, and the
loser sees the winner's claim. Only the owner of file `n` ever rewrites it (to renew or
release), so no write can clobber another run's claim. Filesystems that cannot create
exclusively get write, wait, read back: the last writer wins the race and the other one
sees that it lost.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import BaseModel, Field

from vidflow.owners import owner_gone, owner_token
from vidflow.store import Store

logger = logging.getLogger(__name__)

CLAIMS = "claims"
# How long a filesystem without exclusive create is given to settle before the read-back.
READ_BACK_WAIT_S = 0.5


def new_owner(role: str = "run") -> str:
    """`<role>@<host>-<pid>-<random>`: unique, naming this process (vidflow.owners)."""
    return f"{role}@{owner_token()}"


class Claim(BaseModel):
    """One claim file: who holds a key, until when."""

    key: str = Field(description="The job hash or shard id claimed.")
    number: int = Field(ge=0, description="Which file of the key's series this is.")
    owner: str = Field(description="Host, process and random id of the holder.")
    token: str = Field(description="Random per claim; proves a read-back is ours.")
    expires_at: float = Field(description="Unix time after which anyone may take the key.")

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) >= self.expires_at

    def lapsed(self) -> bool:
        """Expired, or held by a process of this host that is gone (no need to wait)."""
        return self.expired() or owner_gone(self.owner.rpartition("@")[2], None)


class Claims:
    """Claim, renew, release and inspect keys in one store, for one owner."""

    def __init__(self, store: Store, owner: str, lease_s: float) -> None:
        if lease_s <= 0:
            raise ValueError(f"claim lease must be positive, not {lease_s}")
        self.store = store
        self.fs = store.fs
        self.owner = owner
        self.lease_s = lease_s

    def _dir(self, key: str) -> str:
        return f"{self.store.root}/{CLAIMS}/{key}"

    def _file(self, key: str, number: int) -> str:
        return f"{self._dir(key)}/{number}.json"

    def current(self, key: str) -> Claim | None:
        """The key's newest claim, expired or not; None when it was never claimed."""
        base = self._dir(key)
        if not self.fs.exists(base):
            return None
        numbers = []
        for path in self.fs.ls(base, detail=False):
            name = str(path).rsplit("/", 1)[-1]
            if name.endswith(".json") and name[:-5].isdigit():
                numbers.append(int(name[:-5]))
        for number in sorted(numbers, reverse=True):
            claim = self._read(key, number)
            if claim is not None:
                return claim
        return None

    def _read(self, key: str, number: int) -> Claim | None:
        try:
            with self.fs.open(self._file(key, number), "rb") as handle:
                return Claim.model_validate_json(handle.read())
        except FileNotFoundError:
            return None
        except ValueError:
            # Being written by its creator (an empty or partial file): it is taken.
            return Claim(key=key, number=number, owner="?", token="?", expires_at=time.time() + 5)

    def _create(self, claim: Claim) -> bool:
        """Create the claim's file only if no one else has: True when it is ours."""
        path = self._file(claim.key, claim.number)
        payload = claim.model_dump_json().encode()
        self.fs.makedirs(self._dir(claim.key), exist_ok=True)
        try:
            with self.fs.open(path, "xb") as handle:
                handle.write(payload)
            return True
        except FileExistsError:
            return False
        except (ValueError, NotImplementedError, TypeError):
            pass  # no exclusive create on this filesystem: write, wait, read back
        if self.fs.exists(path):
            return False
        with self.fs.open(path, "wb") as handle:
            handle.write(payload)
        time.sleep(READ_BACK_WAIT_S)
        back = self._read(claim.key, claim.number)
        return back is not None and back.token == claim.token

    def claim(self, key: str) -> Claim | None:
        """Take the key if it is free or its claim lapsed; renew it if we hold it already."""
        current = self.current(key)
        if current is not None and current.owner == self.owner:
            return self.renew(current)
        if current is not None and not current.lapsed():
            return None
        number = 0 if current is None else current.number + 1
        claim = Claim(
            key=key,
            number=number,
            owner=self.owner,
            token=uuid.uuid4().hex,
            expires_at=time.time() + self.lease_s,
        )
        if not self._create(claim):
            return None
        if current is not None:
            logger.warning("took over %s from %s (its claim lapsed)", key, current.owner)
        return claim

    def renew(self, claim: Claim) -> Claim | None:
        """Extend our lease; None when the claim lapsed and another owner took the key."""
        current = self.current(claim.key)
        if current is None or current.token != claim.token:
            return None
        renewed = claim.model_copy(update={"expires_at": time.time() + self.lease_s})
        with self.fs.open(self._file(claim.key, claim.number), "wb") as handle:
            handle.write(renewed.model_dump_json().encode())
        return renewed

    def release(self, claim: Claim) -> None:
        """Give the key up now (an expired claim), if it is still ours."""
        current = self.current(claim.key)
        if current is None or current.token != claim.token:
            return
        released = claim.model_copy(update={"expires_at": 0.0})
        with self.fs.open(self._file(claim.key, claim.number), "wb") as handle:
            handle.write(released.model_dump_json().encode())

    @contextmanager
    def keep(self) -> Iterator[Held]:
        """Renew every claim added to the yielded `Held` (every quarter lease) while the
        block runs; release whatever is still held when it ends."""
        held = Held(self)
        stop = threading.Event()

        def renew_all() -> None:
            while not stop.wait(self.lease_s / 4):
                held.renew_all()

        thread = threading.Thread(target=renew_all, name="vidflow-claims", daemon=True)
        thread.start()
        try:
            yield held
        finally:
            stop.set()
            thread.join()
            for key in held.all():
                held.release(key)


class Held:
    """The claims one owner holds now; safe to change while the renewer runs."""

    def __init__(self, claims: Claims) -> None:
        self._claims = claims
        self._held: dict[str, Claim] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> bool:
        """Claim the key and keep it renewed; False when someone else holds it."""
        claim = self._claims.claim(key)
        if claim is None:
            return False
        with self._lock:
            self._held[key] = claim
        return True

    def release(self, key: str) -> None:
        with self._lock:
            claim = self._held.pop(key, None)
        if claim is not None:
            self._claims.release(claim)

    def all(self) -> list[str]:
        with self._lock:
            return list(self._held)

    def renew_all(self) -> None:
        with self._lock:
            for key, claim in list(self._held.items()):
                try:
                    renewed = self._claims.renew(claim)
                except OSError as exc:
                    logger.warning("could not renew claim %s: %s", key, exc)
                    continue
                if renewed is None:
                    logger.error("lost claim %s: it lapsed and was taken over", key)
                    del self._held[key]
                else:
                    self._held[key] = renewed
