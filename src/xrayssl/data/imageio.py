"""Decode any supported image (PNG/JPEG/TIFF/BMP, DICOM, an array inside an .npz) to 8-bit grayscale.

Every failure raises ``ImageError`` with a one-line reason, so that readers can report the file and go on.
"""

from __future__ import annotations

import functools
import os
import re
import stat
import struct
from pathlib import Path

import cv2
import numpy as np

cv2.setNumThreads(1)  # parallelism comes from worker processes; threads inside each would oversubscribe

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
DICOM_SUFFIXES = {".dcm", ".dicom"}
# like PIL's decompression-bomb guard (89 MP): larger images are refused from their header, undecoded
DEFAULT_MAX_PIXELS = 100_000_000
NPZ_REF = re.compile(r"^(?P<file>.+\.npz)::(?P<key>\w+)\[(?P<index>\d+)\]$")


class ImageError(Exception):
    """The file exists in the dataset but cannot be used as an image; the message says why."""


def npz_ref(file: str | Path, key: str, index: int) -> str:
    """The manifest path of one image stored inside an .npz array."""
    return f"{file}::{key}[{index}]"


def is_resource_fork(path: Path) -> bool:
    """macOS writes ``._name`` AppleDouble files beside real files when copying to non-Mac disks."""
    return path.name.startswith("._")


def is_regular_file(path: Path) -> bool:
    """A regular file (symlinks followed): opening a FIFO blocks forever, a device reads without end."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def is_dicom_file(path: Path) -> bool:
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    if not is_regular_file(path):
        return False
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
    return stretch_to_uint8(img)


STRETCH_CHUNK_PIXELS = 1 << 20  # float64 temporaries stay near 8 MB whatever the image size


def stretch_to_uint8(img: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Linearly map [lo, hi] (default: the image's own range) to [0, 255].

    Works through the image a band of rows at a time: a 16-bit image needs its own 2 bytes per pixel plus
    the 1-byte result, not the ~26 bytes per pixel of whole-image float64 temporaries.
    """
    lo = float(np.min(img)) if lo is None else lo
    hi = float(np.max(img)) if hi is None else hi
    if not np.isfinite(lo) or not np.isfinite(hi):
        raise ImageError("pixel values are not finite")
    out = np.zeros(img.shape, dtype=np.uint8)
    if hi <= lo:
        return out
    flat_in, flat_out = img.reshape(len(img), -1), out.reshape(len(out), -1)
    rows = max(1, STRETCH_CHUNK_PIXELS // max(1, flat_in.shape[1]))
    for r in range(0, len(flat_in), rows):
        band = np.clip(flat_in[r : r + rows].astype(np.float64), lo, hi)
        flat_out[r : r + rows] = np.rint((band - lo) * (255.0 / (hi - lo)))
    return out


def sniff(head: bytes) -> str | None:
    """The image format from its first bytes (magic numbers), whatever the file is called."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head.startswith(b"BM"):
        return "bmp"
    return None


def _png_size(data: np.ndarray) -> tuple[int, int]:
    head = data[:24].tobytes()
    if len(head) < 24 or head[12:16] != b"IHDR":
        raise ImageError("not a decodable image (corrupt PNG header)")
    width, height = struct.unpack(">II", head[16:24])
    return width, height


# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic); C4, C8 and CC are not frames
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: np.ndarray) -> tuple[int, int]:
    """Walk the JPEG markers up to the frame header: the size without decoding any pixels."""
    raw, i = data.tobytes(), 2
    while i + 9 <= len(raw):
        if raw[i] != 0xFF:
            break
        marker = raw[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _SOF:
            height, width = struct.unpack(">HH", raw[i + 5 : i + 9])
            return width, height
        i += 2 + struct.unpack(">H", raw[i + 2 : i + 4])[0]
    raise ImageError("not a decodable image (no JPEG frame header)")


def _pil_size(path: Path) -> tuple[int, int]:
    """TIFF and BMP: PIL reads the header only (pixels are decoded later, by OpenCV)."""
    import warnings

    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as im:
                return im.size
        except Image.DecompressionBombError as exc:  # PIL's own guard, at twice its 89 MP warning
            raise ImageError(f"image too large ({exc})") from exc
        except Exception as exc:
            raise ImageError(f"not a decodable image ({exc})") from exc


def image_size(path: Path, data: np.ndarray, kind: str) -> tuple[int, int]:
    """(width, height) from the file header, before any pixel is decoded."""
    if kind == "png":
        return _png_size(data)
    if kind == "jpeg":
        return _jpeg_size(data)
    return _pil_size(path)


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageError(
            f"image too large: {width}x{height} px ({width * height / 1e6:.0f} MP) is above the limit of "
            f"{max_pixels / 1e6:g} MP (--max-pixels); refused before decoding"
        )


def jpeg_reduction(width: int, height: int, target: tuple[int, str] | None) -> int:
    """How much libjpeg may shrink while decoding (1, 2, 4 or 8), keeping at least twice the pixels
    the final ``target`` (size, "pad"|"crop") needs, so the area-averaging resize after it still has detail."""
    if target is None:
        return 1
    size, mode = target
    side = max(width, height) if mode == "pad" else min(width, height)  # the side that becomes ``size``
    for factor in (8, 4, 2):
        if side // factor >= 2 * size:
            return factor
    return 1


_REDUCED = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


HEADER_BYTES = 1 << 18  # enough for a PNG's IHDR and a JPEG's frame header after large EXIF/ICC segments


def _read_raster(path: Path, max_pixels: int, target: tuple[int, str] | None) -> np.ndarray:
    # the header first: a huge (or sparse) file is refused from its first bytes, never read in full
    head = np.fromfile(path, dtype=np.uint8, count=HEADER_BYTES)
    if head.size == 0:
        raise ImageError("empty file")
    kind = sniff(head[:8].tobytes())
    if kind is None:
        raise ImageError("not a decodable image (content is not PNG, JPEG, TIFF or BMP)")
    try:
        check_pixels(*_header_size(path, head, kind), max_pixels)
        data = head if head.size < HEADER_BYTES else np.fromfile(path, dtype=np.uint8)
        return _decode(path, data, kind, max_pixels, target)
    except ImageError as exc:
        if _misnamed(path, kind):  # the content decides, not the name: say what the file really holds
            raise ImageError(f"{kind.upper()} content with {path.suffix or 'no'} extension; {exc}") from exc
        raise


def _header_size(path: Path, head: np.ndarray, kind: str) -> tuple[int, int]:
    """The size from the first bytes; a JPEG whose frame header lies beyond them is sized from the whole file."""
    try:
        return image_size(path, head, kind)
    except ImageError:
        if kind != "jpeg" or head.size < HEADER_BYTES:
            raise
        return image_size(path, np.fromfile(path, dtype=np.uint8), kind)


def _decode(path: Path, data: np.ndarray, kind: str, max_pixels: int, target: tuple[int, str] | None) -> np.ndarray:
    width, height = image_size(path, data, kind)
    check_pixels(width, height, max_pixels)
    # JPEG only: libjpeg really decodes at 1/2, 1/4, 1/8 (DCT scaling); for PNG OpenCV would decode in full
    # and then resize without area averaging, which saves no memory and aliases
    factor = jpeg_reduction(width, height, target) if kind == "jpeg" else 1
    img = cv2.imdecode(data, _REDUCED[factor] if factor > 1 else cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ImageError("not a decodable image (corrupt, truncated or not an image file)")
    if kind == "png" and not data[-12:].tobytes().endswith(b"IEND\xaeB`\x82"):
        # libpng decodes what it can of a truncated file and returns partly blank pixels: refuse them
        raise ImageError("truncated PNG (no IEND chunk)")
    return img


_SUFFIXES = {"png": {".png"}, "jpeg": {".jpg", ".jpeg"}, "tiff": {".tif", ".tiff"}, "bmp": {".bmp"}}


def _misnamed(path: Path, kind: str) -> bool:
    return path.suffix.lower() not in _SUFFIXES[kind]


def _read_dicom(path: Path, max_pixels: int) -> np.ndarray:
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        ds = pydicom.dcmread(path)  # pixel data stays encoded until .pixel_array
    except Exception as exc:  # pydicom raises many types for bad data
        raise ImageError(f"cannot read DICOM file: {exc}") from exc
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    width, height = int(getattr(ds, "Columns", 0) or 0), int(getattr(ds, "Rows", 0) or 0)
    check_pixels(width, height * frames, max_pixels)  # every frame is decoded, so every frame counts
    _check_dicom_length(ds, width, height, frames)
    try:
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


def npz_shapes(file: str | Path) -> dict[str, tuple[int, ...]]:
    """Each array's shape in an .npz, from the .npy headers alone: nothing is decompressed beyond them, so a
    small file that unpacks to gigabytes is sized (and refused) before it is read."""
    import zipfile

    shapes = {}
    with zipfile.ZipFile(file) as z:
        for name in z.namelist():
            if not name.endswith(".npy"):
                continue
            with z.open(name) as f:
                version = np.lib.format.read_magic(f)
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else _header_2
                shape, _order, _dtype = read_header(f)
            shapes[name[: -len(".npy")]] = tuple(int(n) for n in shape)
    return shapes


def _header_2(f) -> tuple:
    return np.lib.format.read_array_header_2_0(f)


def _check_npz_entry(file: str, key: str, max_pixels: int) -> None:
    try:
        shape = npz_shapes(file)[key]
    except (OSError, KeyError, ValueError) as exc:
        raise ImageError(f"cannot read array entry: {exc}") from exc
    if len(shape) >= 3:
        check_pixels(shape[2], shape[1], max_pixels)


def _check_dicom_length(ds, width: int, height: int, frames: int) -> None:
    """Uncompressed pixel data must be exactly what Rows x Columns x frames say: when they disagree, pydicom
    reads a part of it as the image (or pads it), and neither the header nor the data can be trusted."""
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is None or syntax.is_compressed or "PixelData" not in ds:
        return
    samples, bits = int(getattr(ds, "SamplesPerPixel", 1) or 1), int(getattr(ds, "BitsAllocated", 8) or 8)
    expected = width * height * frames * samples * bits // 8
    actual = len(ds.PixelData)
    if actual not in (expected, expected + 1):  # DICOM pads odd lengths with one byte
        raise ImageError(
            f"DICOM pixel data holds {actual} bytes but Rows x Columns x frames ({height}x{width}x{frames}, "
            f"{bits} bits) need {expected}: the header does not describe its pixels"
        )


@functools.lru_cache(maxsize=4)
def _npz_array(file: str, key: str) -> np.ndarray:
    with np.load(file) as z:
        return z[key]


def read_gray(
    path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS, target: tuple[int, str] | None = None
) -> np.ndarray:
    """Decode one manifest path to a 2-D uint8 array, or raise ``ImageError``.

    Images above ``max_pixels`` are refused from their header, before decoding. ``target`` (size,
    "pad"|"crop") is the square the caller will scale to: a JPEG much larger than it is decoded at
    1/2, 1/4 or 1/8 resolution by libjpeg itself."""
    text = str(path)
    ref = NPZ_REF.match(text)
    if ref:
        _check_npz_entry(ref["file"], ref["key"], max_pixels)
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
    img = _read_dicom(p, max_pixels) if is_dicom_file(p) else _read_raster(p, max_pixels, target)
    gray = to_uint8_gray(img)
    if min(gray.shape) < 8:
        raise ImageError(f"image too small ({gray.shape[1]}x{gray.shape[0]} px)")
    return gray
