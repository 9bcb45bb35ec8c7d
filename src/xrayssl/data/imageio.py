"""Decode any supported image (PNG/JPEG/TIFF/BMP, DICOM, an array inside an .npz) to 8-bit grayscale.

Every failure raises ``ImageError`` with a one-line reason, so that readers can report the file and go on.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import cv2
import numpy as np

cv2.setNumThreads(1)  # parallelism comes from worker processes; threads inside each would oversubscribe

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
DICOM_SUFFIXES = {".dcm", ".dicom"}
NPZ_REF = re.compile(r"^(?P<file>.+\.npz)::(?P<key>\w+)\[(?P<index>\d+)\]$")


class ImageError(Exception):
    """The file exists in the dataset but cannot be used as an image; the message says why."""


def npz_ref(file: str | Path, key: str, index: int) -> str:
    """The manifest path of one image stored inside an .npz array."""
    return f"{file}::{key}[{index}]"


def is_resource_fork(path: Path) -> bool:
    """macOS writes ``._name`` AppleDouble files beside real files when copying to non-Mac disks."""
    return path.name.startswith("._")


def is_dicom_file(path: Path) -> bool:
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    try:
        with open(path, "rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def to_uint8_gray(img: np.ndarray) -> np.ndarray:
    """Any mode or bit depth to one 8-bit channel: drop alpha, average colour, stretch deep images."""
    if img.ndim == 3:
        if img.shape[2] == 4:
            img = img[:, :, :3]
        if img.shape[2] == 3:
            img = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_BGR2GRAY)
        elif img.shape[2] == 1:
            img = img[:, :, 0]
        else:
            raise ImageError(f"unsupported channel count {img.shape[2]}")
    if img.ndim != 2:
        raise ImageError(f"unsupported array shape {img.shape}")
    if img.dtype == np.uint8:
        return np.ascontiguousarray(img)
    if img.dtype == bool:
        return img.astype(np.uint8) * 255
    return stretch_to_uint8(img.astype(np.float64))


def stretch_to_uint8(img: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Linearly map [lo, hi] (default: the image's own range) to [0, 255]."""
    lo = float(np.min(img)) if lo is None else lo
    hi = float(np.max(img)) if hi is None else hi
    if not np.isfinite(lo) or not np.isfinite(hi):
        raise ImageError("pixel values are not finite")
    if hi <= lo:
        return np.zeros(img.shape, dtype=np.uint8)
    out = (np.clip(img, lo, hi) - lo) * (255.0 / (hi - lo))
    return np.rint(out).astype(np.uint8)


def _read_raster(path: Path) -> np.ndarray:
    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0:
        raise ImageError("empty file")
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ImageError("not a decodable image (corrupt, truncated or not an image file)")
    if path.suffix.lower() == ".png" and not data[-12:].tobytes().endswith(b"IEND\xaeB`\x82"):
        # libpng decodes what it can of a truncated file and returns partly blank pixels: refuse them
        raise ImageError("truncated PNG (no IEND chunk)")
    return img


def _read_dicom(path: Path) -> np.ndarray:
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        ds = pydicom.dcmread(path)
        arr = ds.pixel_array
    except Exception as exc:  # pydicom raises many types for bad or compressed data
        raise ImageError(f"cannot decode DICOM pixel data: {exc}") from exc
    if arr.ndim == 3 and getattr(ds, "SamplesPerPixel", 1) == 1:
        arr = arr[0]  # multi-frame: the first frame is the radiograph
    photometric = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2")).upper()
    if photometric.startswith("MONOCHROME"):
        values = apply_modality_lut(arr, ds).astype(np.float64)
        if "WindowCenter" in ds and "WindowWidth" in ds:
            values = apply_voi_lut(values, ds).astype(np.float64)
        out = stretch_to_uint8(values)
        if photometric == "MONOCHROME1":  # MONOCHROME1 stores bone dark: invert so bone is bright
            out = 255 - out
        return out
    return to_uint8_gray(arr[..., ::-1] if arr.ndim == 3 else arr)  # pydicom gives RGB; OpenCV wants BGR


@functools.lru_cache(maxsize=4)
def _npz_array(file: str, key: str) -> np.ndarray:
    with np.load(file) as z:
        return z[key]


def read_gray(path: str | Path) -> np.ndarray:
    """Decode one manifest path to a 2-D uint8 array, or raise ``ImageError``."""
    text = str(path)
    ref = NPZ_REF.match(text)
    if ref:
        try:
            arr = _npz_array(ref["file"], ref["key"])[int(ref["index"])]
        except (OSError, KeyError, IndexError, ValueError) as exc:
            raise ImageError(f"cannot read array entry: {exc}") from exc
        return to_uint8_gray(arr[..., ::-1] if arr.ndim == 3 else arr)
    p = Path(text)
    if is_resource_fork(p):
        raise ImageError("macOS resource-fork file (._*), not an image")
    if not p.is_file():
        raise ImageError("file not found")
    img = _read_dicom(p) if is_dicom_file(p) else _read_raster(p)
    gray = to_uint8_gray(img)
    if min(gray.shape) < 8:
        raise ImageError(f"image too small ({gray.shape[1]}x{gray.shape[0]} px)")
    return gray
