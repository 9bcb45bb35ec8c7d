"""Per-image preprocessing for the cache: fit to a square without distortion, then CLAHE."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Literal

import cv2
import numpy as np

from xrayssl.catalog import MAX_SIZE, MIN_SIZE
from xrayssl.configfile import check_bounds
from xrayssl.data.imageio import DEFAULT_MAX_PIXELS, ImageError, read_gray
from xrayssl.errors import XraySSLError

MAX_PIXELS_HELP = "refuse (report) source images with more pixels, read from their header"
SIZE_RANGE = (MIN_SIZE, MAX_SIZE)  # a cache's image side: the bounds of the runs that read it (xrayssl.catalog)


@dataclass(frozen=True)
class ProcessConfig:
    size: int = field(default=224, metadata={"help": "side of the square cached images in px"})
    resize: Literal["pad", "crop"] = field(
        default="pad", metadata={"help": "pad: keep the whole image; crop: fill the square from the centre"}
    )
    clahe: bool = field(default=True, metadata={"help": "CLAHE contrast enhancement (--no-clahe skips it)"})
    clahe_clip: float = field(default=2.0, metadata={"help": "CLAHE clip limit"})
    clahe_tiles: int = field(default=8, metadata={"help": "CLAHE tile grid size (8 = 8x8)"})
    max_pixels: int = field(
        default=DEFAULT_MAX_PIXELS,  # larger source images are refused from their header (a problem)
        metadata={"help": MAX_PIXELS_HELP},
    )

    def __post_init__(self) -> None:
        lo, hi = SIZE_RANGE
        if not lo <= self.size <= hi:
            raise XraySSLError(f"size must be between {lo} and {hi} px, got {self.size}")
        if self.max_pixels < 1:
            raise XraySSLError(f"max_pixels must be a positive number of pixels, got {self.max_pixels}")
        if self.resize not in ("pad", "crop"):
            raise XraySSLError(f"resize must be 'pad' or 'crop', got {self.resize!r}")
        if self.clahe and (self.clahe_clip <= 0 or self.clahe_tiles < 1):
            raise XraySSLError("CLAHE clip limit must be > 0 and tile grid >= 1")
        check_bounds(self)  # then anything else out of range (catalog.BOUNDS): NaN, inf, huge


def content_hash(gray: np.ndarray) -> str:
    """Hash of decoded pixels: the same radiograph saved twice (any format) gets the same hash."""
    h = hashlib.blake2b(gray.tobytes(), digest_size=12)
    h.update(str(gray.shape).encode())
    return h.hexdigest()


def fit_square(gray: np.ndarray, size: int, mode: str) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Scale keeping the aspect ratio; return the scaled image and where it sits in the square (y, x, h, w)."""
    h, w = gray.shape
    scale = size / max(h, w) if mode == "pad" else size / min(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR  # linear: no overshoot halos at edges
    scaled = cv2.resize(gray, (nw, nh), interpolation=interp) if (nh, nw) != (h, w) else gray
    if mode == "crop":
        y, x = (nh - size) // 2, (nw - size) // 2
        return scaled[y : y + size, x : x + size], (0, 0, size, size)
    return scaled, ((size - nh) // 2, (size - nw) // 2, nh, nw)


def process(gray: np.ndarray, config: ProcessConfig) -> np.ndarray:
    """8-bit grayscale of any size -> config.size square, CLAHE applied to the image content only."""
    scaled, (y, x, h, w) = fit_square(gray, config.size, config.resize)
    if config.clahe:
        # CLAHE before padding: a padded black border would otherwise be lifted to grey by the histogram clip
        clahe = cv2.createCLAHE(clipLimit=config.clahe_clip, tileGridSize=(config.clahe_tiles, config.clahe_tiles))
        scaled = clahe.apply(np.ascontiguousarray(scaled))
    if (h, w) == (config.size, config.size):
        return np.ascontiguousarray(scaled)
    out = np.zeros((config.size, config.size), dtype=np.uint8)
    out[y : y + h, x : x + w] = scaled
    return out


def pixel_settings(config: ProcessConfig) -> dict:
    """The settings that decide a cached image's pixels (the pixel limit only decides which are refused)."""
    settings = asdict(config)
    del settings["max_pixels"]
    return settings


def load_and_process(
    path: str, config: ProcessConfig | None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[np.ndarray | None, str, str]:
    """Worker entry: (processed image or None when only verifying, content hash, error message or '').

    ``max_pixels`` applies when only verifying; with a config its own limit applies."""
    try:
        if config is None:
            gray = read_gray(path, max_pixels)
        else:
            gray = read_gray(path, config.max_pixels, (config.size, config.resize))
    except ImageError as exc:
        return None, "", str(exc)
    except Exception as exc:  # a decoder bug must not stop a 40,000-image run: report it with the file
        return None, "", f"unexpected error while decoding: {type(exc).__name__}: {exc}"
    digest = content_hash(gray)
    return (process(gray, config) if config is not None else None), digest, ""


# Histogram entropy (bits, of 8) above which a sample of images looks contrast-equalised already: the knee images
# of ../shared/data/knee_oa (histogram-equalised at the source) have a median near 7.5 bits; raw radiographs,
# synthetic ones included, sit near 6, and CLAHE lifts a raw image by about one bit.
EQUALISED_BITS = 7.2


def histogram_bits(gray: np.ndarray) -> float:
    """The entropy of an 8-bit image's grey-level histogram, in bits (8: every level equally often)."""
    h = np.bincount(gray.ravel(), minlength=256).astype(float)
    p = h[h > 0] / h.sum()
    return float(-(p * np.log2(p)).sum())


def equalised_warning(paths: list[str], n: int = 24) -> str | None:
    """A warning when CLAHE is about to run on images that already look equalised (median histogram entropy of
    up to ``n`` images spread over the dataset at or above EQUALISED_BITS); None otherwise."""
    from xrayssl.data.imageio import read_gray

    picked = [paths[i] for i in np.linspace(0, len(paths) - 1, min(n, len(paths))).astype(int)] if paths else []
    bits = []
    for path in picked:
        try:
            bits.append(histogram_bits(read_gray(path)))
        except Exception:
            continue
    if not bits or float(np.median(bits)) < EQUALISED_BITS:
        return None
    return (
        f"the images look contrast-equalised already (median histogram entropy {np.median(bits):.1f} of 8 bits over "
        f"{len(bits)} images; raw radiographs are near 6): CLAHE would equalise them again and lift their noise; "
        "prepare with --no-clahe unless you mean it"
    )
