"""Whether a process is still running: one answer for the cache writer (whose temporary files are stale once
their writer is gone) and the study store (whose claimed runs are orphaned once their worker is gone)."""

from __future__ import annotations

import os
from pathlib import Path


def pid_alive(pid: int | None) -> bool:
    """Whether a process of this host is running (a zombie, exited but not yet reaped, is not)."""
    if not pid:  # no pid recorded; and os.kill(0, ...) would signal our own process group
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except (OSError, OverflowError):  # a pid no process can have
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):  # not Linux
        return True
    return state != "Z"
