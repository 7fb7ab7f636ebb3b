"""Reading a file a user named: only a regular file, only inside a given folder, only so big.

Prompt files and the images they point at are written by whoever can push to the
repository, so a path is never trusted: symlinks are resolved and the real path must stay
inside the folder (no `../../etc/passwd`, no link to `/dev/zero`), the file must be a
regular file (a FIFO would block the reader forever) and its size is checked before a
byte is read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from vidflow.errors import VidflowError

_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


class FileRefused(VidflowError):
    """A path that must not be read; the message says why, the caller names the file."""


def _check_stat(st: os.stat_result, max_bytes: int) -> None:
    if not stat.S_ISREG(st.st_mode):
        kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
        raise FileRefused(f"not a regular file ({kind})")
    if st.st_size > max_bytes:
        raise FileRefused(f"file is {st.st_size} bytes; the limit is {max_bytes}")


def inside(path: Path, root: Path) -> Path:
    """The real path of `path` (every symlink resolved); refused unless it is under `root`."""
    try:
        real = path.resolve(strict=True)
    except FileNotFoundError:
        raise FileRefused("file not found") from None
    except (OSError, RuntimeError) as exc:  # a symlink loop, a permission error
        raise FileRefused(f"cannot resolve the path: {exc}") from None
    real_root = root.resolve()
    if real != real_root and real_root not in real.parents:
        raise FileRefused(f"resolves to {real}, outside {real_root}")
    return real


def checked_file(path: Path, root: Path, max_bytes: int) -> Path:
    """The real path of a regular file under `root` of at most `max_bytes`, else refused."""
    real = inside(path, root)
    try:
        st = real.stat()
    except OSError as exc:
        raise FileRefused(f"cannot read file: {exc.strerror}") from None
    _check_stat(st, max_bytes)
    return real


def read_checked(path: Path, root: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file under `root`, refused before reading when too big.

    The file is opened without following a final symlink and without blocking, and checked
    again on the open descriptor, so a swap between the check and the read is caught too.
    """
    real = checked_file(path, root, max_bytes)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(real, flags)
    except OSError as exc:
        raise FileRefused(f"cannot read file: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        _check_stat(os.fstat(fd), max_bytes)
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FileRefused(f"file is over the limit of {max_bytes} bytes")
    return data
