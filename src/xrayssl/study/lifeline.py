"""Worker processes die with the ``study`` process that started them.

Without this, killing ``xrayssl study --workers 2`` leaves its workers training on their own: nobody reports
their results, and a restarted study runs beside them. On Linux the kernel kills the worker when its parent
dies (``prctl(PR_SET_PDEATHSIG)``); elsewhere a thread notices that the parent pid changed. SIGKILL rather
than SIGTERM, because Lightning catches SIGTERM to end training gracefully, and the worker would then go on
to its next run. The run a killed worker held is handed out again (its pid is gone), and resumes from its
last checkpoint.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def exit_with_parent(parent: int, use_prctl: bool = True, poll_seconds: float = 1.0) -> str:
    """Make this process end when process ``parent`` does; returns the mechanism used ("prctl" or "thread")."""
    if use_prctl and sys.platform.startswith("linux") and _set_pdeathsig(signal.SIGKILL):
        if os.getppid() != parent:  # the parent died before the kernel was told to watch it
            os._exit(1)
        return "prctl"
    threading.Thread(target=_watch, args=(parent, poll_seconds), name="xrayssl-parent-watch", daemon=True).start()
    return "thread"


def _set_pdeathsig(sig: int) -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int, poll_seconds: float) -> None:
    # an orphan is re-parented (to init or a subreaper), so its parent pid changes when the parent dies
    while os.getppid() == parent:
        time.sleep(poll_seconds)
    os._exit(1)  # from a thread: ends the whole process at once, as SIGKILL would
