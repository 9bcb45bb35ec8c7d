"""Writing a cache folder without ever leaving a half-written file under a real name.

Every file is written to ``.<name>.<pid>.tmp`` in the cache folder, flushed to disk, and renamed into
place (``os.replace``, atomic on one file system) only once all of them are complete. ``cache.json``
is renamed first: from then on it vouches for the new files, so a process killed between two renames
leaves files that fail their check (and are rebuilt) rather than files that pass it with the wrong rows.
A failed write (disk full, a kill) removes its temporary files; those of dead processes are removed by
the next run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from xrayssl.data.cache import CACHE_JSON, DIGEST, IMAGES, MANIFEST, PROBLEMS, ROWS, Digest, file_record
from xrayssl.processes import pid_alive

# the order of the renames; see the module docstring
COMMIT_ORDER = (CACHE_JSON, IMAGES, ROWS, MANIFEST, PROBLEMS)
_TEMP = re.compile(r"^\.(?P<name>" + "|".join(re.escape(n) for n in COMMIT_ORDER) + r")(?:\.(?P<pid>\d+))?\.tmp$")
NPY_HEADER_BYTES = 128  # fixed, so the header can be rewritten with the final row count


def remove_stale_temps(folder: Path) -> list[Path]:
    """Remove the temporary files of processes that are no longer running; return what was removed.

    This process's own are stale too: one process prepares one cache at a time, so they are left from an
    earlier, interrupted update. (Temporary files without a pid come from format version 1.)"""
    removed = []
    for path in sorted(folder.glob(".*.tmp")):
        m = _TEMP.match(path.name)
        if m and (m["pid"] is None or int(m["pid"]) == os.getpid() or not pid_alive(int(m["pid"]))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def write_npy_header(f: BinaryIO, shape: tuple[int, ...]) -> None:
    """A .npy (format 1.0) header for uint8 data of ``shape``, padded to a fixed length."""
    text = repr({"descr": "|u1", "fortran_order": False, "shape": tuple(shape)})
    pad = NPY_HEADER_BYTES - 10 - len(text) - 1
    f.write(b"\x93NUMPY\x01\x00" + (NPY_HEADER_BYTES - 10).to_bytes(2, "little") + text.encode() + b" " * pad + b"\n")


def _sync(f: BinaryIO) -> None:
    f.flush()
    os.fsync(f.fileno())


class ImageWriter:
    """Streams (size, size) uint8 rows into a .npy file, digesting the pixel data on the way."""

    def __init__(self, path: Path, size: int) -> None:
        self.path, self.size, self.n = path, size, 0
        self.digest = Digest()
        self.file = open(path, "wb")  # noqa: SIM115 - closed by finish() or close()
        write_npy_header(self.file, (0, size, size))

    def add(self, row: bytes) -> None:
        self.file.write(row)
        self.digest.update(row)
        self.n += 1

    def finish(self) -> dict[str, Any]:
        """Write the final header, flush to disk, close; return the record for cache.json."""
        self.file.seek(0)
        write_npy_header(self.file, (self.n, self.size, self.size))
        _sync(self.file)
        self.file.close()
        return {
            "bytes": self.path.stat().st_size,
            "shape": [self.n, self.size, self.size],
            "dtype": "uint8",
            DIGEST: self.digest.hexdigest(),
        }

    def close(self) -> None:
        with contextlib.suppress(OSError):  # flushing after a failed write fails again; the first error counts
            self.file.close()


class CacheWriter:
    """The temporary files of one update of a cache folder, and their commit."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.written: dict[str, Path] = {}

    def temp(self, name: str) -> Path:
        path = self.folder / f".{name}.{os.getpid()}.tmp"
        self.written[name] = path
        return path

    def images(self, size: int) -> ImageWriter:
        return ImageWriter(self.temp(IMAGES), size)

    def rows(self, rows: np.ndarray) -> dict[str, Any]:
        with open(self.temp(ROWS), "wb") as f:
            np.save(f, rows, allow_pickle=False)
            _sync(f)
        return file_record(self.written[ROWS])

    def text(self, name: str, text: str) -> dict[str, Any]:
        with open(self.temp(name), "wb") as f:
            f.write(text.encode())
            _sync(f)
        return file_record(self.written[name])

    def info(self, info: dict[str, Any]) -> None:
        self.text(CACHE_JSON, json.dumps(info, indent=2, ensure_ascii=False))

    def commit(self) -> None:
        """Rename every written file into place, cache.json first, then make the renames durable."""
        for name in COMMIT_ORDER:
            if name in self.written:
                os.replace(self.written.pop(name), self.folder / name)
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        except OSError:  # some file systems cannot sync a folder; the renames are done all the same
            pass
        finally:
            os.close(fd)

    def discard(self) -> None:
        for path in self.written.values():
            path.unlink(missing_ok=True)
        self.written.clear()
