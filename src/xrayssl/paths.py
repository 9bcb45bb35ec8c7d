"""Turning text from the data into file names: nothing read from a dataset ever becomes a path as is.

A body part, study id or recipe name comes from a CSV column, a DICOM header or a folder name. Used
verbatim as a file name, ``../../x`` or ``/etc/x`` would write outside the output folder. ``safe_name``
maps any text to one plain file name; tables keep the text verbatim.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

MAX_NAME_BYTES = 80  # well under every file system's 255-byte limit, leaving room for suffixes like "_x.png"
_UNSAFE = re.compile(r"[^\w.-]+")  # \w is Unicode-aware: Korean body part names stay readable
# names Windows reserves whatever the extension
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def safe_name(text: str) -> str:
    """A deterministic file name for ``text``: a lower-case slug of letters, digits, ``.``, ``_`` and ``-``.

    When the slug is not exactly ``text`` (characters replaced, case folded, cut short, reserved or empty),
    eight hex digits of a hash of ``text`` are appended, so two different texts never share a name:
    ``safe_name("knee") == "knee"``, ``safe_name("../../x") == "x-<hash>"``. The result is never empty,
    never ``.`` or ``..``, never starts with ``.`` and holds no path separator.
    """
    text = str(text)
    slug = _UNSAFE.sub("-", unicodedata.normalize("NFC", text).lower()).strip("-._ ")
    limit = MAX_NAME_BYTES - 9  # room for "-" and the hash
    if len(slug.encode()) > limit:
        slug = slug.encode()[:limit].decode(errors="ignore").rstrip("-._ ")
    if slug and slug == text and slug.split(".")[0] not in _RESERVED:
        return slug
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=4).hexdigest()
    return f"{slug or 'name'}-{digest}"


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with control characters (terminal escape sequences, bidi overrides) shown as ``?``: data from a
    dataset is printed to a terminal, and an ESC from a file name must not move the cursor or recolour it."""
    return _CONTROL.sub("?", str(text))


__all__ = ["printable", "safe_name"]
