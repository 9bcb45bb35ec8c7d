"""Input normalisations of the backbones, by name: the one place that holds their numbers (no torch here, so the
CLI and export can read them cheaply). The backbone applies its ``norm`` inside ``forward`` and ``feature_maps``;
export.py writes it into the exported file's metadata; a run's config.json names it.

- ``xray``: one grey channel in [0, 1], ``(x - 0.5) / 0.25`` (roughly zero-mean, unit-variance radiographs);
- ``imagenet``: the grey image as 3 equal channels, each ``(x - mean) / std`` with ImageNet's numbers, as
  torchvision's ImageNet models expect.
"""

from __future__ import annotations

from xrayssl.errors import XraySSLError

# name -> (mean, std) per input channel; the first convolution's channel count follows from it
NORMS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "xray": ((0.5,), (0.25,)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


def check_norm(norm: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) of a normalisation; an unknown name is a one-line error listing the valid ones."""
    if norm not in NORMS:
        raise XraySSLError(f"unknown input normalisation '{norm}'; valid: {', '.join(NORMS)}")
    return NORMS[norm]
