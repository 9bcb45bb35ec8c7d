"""Writing outputs safely: atomic files and exclusive folder claims (a low module, beside ``paths``).

``atomic_write(path)`` gives a file object on a temporary name in the same folder; only a complete, flushed
file is renamed to ``path`` (``os.replace`` is atomic on one file system), so a kill or a full disk never leaves
a truncated file under the real name and an earlier good file survives. ``claim_folder(folder)`` holds an
exclusive ``fcntl`` lock on ``folder/.lock`` for as long as the run lives: a second writer is refused whatever
the timing, and a killed process's lock goes with it (the kernel drops it).
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from xrayssl.errors import XraySSLError

LOCK_NAME = ".lock"


def _disk_message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "no space left on the device"
    text = getattr(exc, "strerror", None) or str(exc)
    # torch.save reports a full disk as RuntimeError ("... file write failed"): say what it means
    return "no space left on the device, or the write failed" if "write failed" in text else text


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """``with atomic_write(p) as f: f.write(...)``: ``p`` is replaced only by a complete file; on any error the
    temporary file is removed and a one-line XraySSLError names ``p`` (the original exception is chained)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError | RuntimeError):
            raise XraySSLError(f"{path}: could not write it ({_disk_message(exc)})") from exc
        raise


def write_text_atomic(path: str | Path, text: str) -> Path:
    with atomic_write(path, "w") as f:
        f.write(text)
    return Path(path)


def make_folder(folder: str | Path, what: str = "output") -> Path:
    """``folder`` created (with its parents), or one line saying why it cannot be: under a file, read-only, a
    name too long for the file system."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise XraySSLError(f"{folder}: cannot create the {what} folder ({exc.strerror or exc})") from None
    return folder


class FolderClaim:
    """An exclusive lock on a folder's ``.lock`` file; ``release()`` (or the process's end) gives it back."""

    def __init__(self, folder: Path, handle: IO) -> None:
        self.folder, self._handle = folder, handle

    def release(self) -> None:
        if not self._handle.closed:
            self._handle.close()  # closing drops the flock


def claim_folder(folder: str | Path, what: str = "run") -> FolderClaim:
    """Lock ``folder`` (created if needed) for this process, or refuse in one line if another holds it."""
    import fcntl

    folder = make_folder(folder, what)
    handle = open(folder / LOCK_NAME, "a+")  # noqa: SIM115 (held open for the claim's life)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        message = f"{folder}: another {what} is writing here ({holder}); wait for it or use another --out"
        raise XraySSLError(message) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    return FolderClaim(folder, handle)
