"""Names that say which process wrote something, so a later run can tell debris left by a
killed run (its process is gone) from work another run is doing right now."""

from __future__ import annotations

import os
import socket
import time
import uuid

# A name written on another host cannot be checked for a live process: it is left alone
# for this long, far beyond any publish or batch, before it counts as abandoned.
FOREIGN_TTL_S = 24 * 3600


def owner_token() -> str:
    """`<host>-<pid>-<random>`: unique, and naming this process."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def owner_gone(token: str, modified: float | None) -> bool:
    """True when the process that named `token` has ended (this host), or, for another
    host's token, when it was last modified more than `FOREIGN_TTL_S` ago."""
    parts = token.rsplit("-", 2)
    if len(parts) == 3 and parts[0] == socket.gethostname() and parts[1].isdigit():
        pid = int(parts[1])
        if pid == os.getpid():
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, someone else's
            return False
        return False
    return modified is not None and time.time() - modified > FOREIGN_TTL_S
