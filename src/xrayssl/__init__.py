"""xrayssl: find which augmentations make self-supervised learning work on X-ray images."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("xrayssl")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+local"

from xrayssl.errors import XraySSLError

__all__ = ["XraySSLError", "__version__"]
