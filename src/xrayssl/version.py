"""The installed xrayssl's version, in a leaf module: the low layers (data, runs) that stamp it into caches and
run folders import it from here, never from the package root, which sits above every layer."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("xrayssl")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+local"
