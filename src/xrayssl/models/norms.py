"""Input normalisations of the backbones, by name: the one place that holds their numbers (no torch here, so the
CLI and export can read them cheaply). The backbone applies its ``norm`` inside ``forward`` and ``feature_maps``;
export.py writes it into the exported file's metadata; a run's config.json names it.

- ``xray``: one grey channel in [0, 1], ``(x - 0.5) / 0.25`` (roughly zero-mean, unit-variance radiographs);
- ``imagenet``: the grey image as 3 equal channels, each ``(x - mean) / std`` with ImageNet's numbers, as
  torchvision's ImageNet models expect;
- ``grey(MEAN,STD)``: one grey channel, ``(x - MEAN) / STD``: a pretrained timm or Hugging Face start's own
  per-channel numbers averaged over its channels (its first convolution summed over them by timm's own stem
  adaptation, ``in_chans=1``), e.g. ``grey(0.449,0.226)`` for ImageNet's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from xrayssl.errors import XraySSLError

# name -> (mean, std) per input channel; the first convolution's channel count follows from it
NORMS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "xray": ((0.5,), (0.25,)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


_GREY = re.compile(r"grey\((\d+(?:\.\d+)?(?:e-?\d+)?),(\d+(?:\.\d+)?(?:e-?\d+)?)\)")


def grey_norm(mean: Sequence[float], std: Sequence[float]) -> str:
    """The one-channel normalisation of a start whose input channels have these means and stds."""
    m, s = sum(mean) / len(mean), sum(std) / len(std)
    return f"grey({m:.4g},{s:.4g})"


def check_norm(norm: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) of a normalisation; an unknown name is a one-line error listing the valid ones."""
    if norm in NORMS:
        return NORMS[norm]
    m = _GREY.fullmatch(norm) if isinstance(norm, str) else None
    if m and float(m.group(2)) > 0:
        return (float(m.group(1)),), (float(m.group(2)),)
    raise XraySSLError(f"unknown input normalisation '{norm}'; valid: {', '.join(NORMS)} or grey(MEAN,STD)")
