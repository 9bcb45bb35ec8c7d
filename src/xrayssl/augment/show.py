"""``xrayssl augment show``: a picture of images and several augmented views of each."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import torch

from xrayssl.augment.pipeline import parse_pipeline
from xrayssl.data.sample import sample_images


def show(
    source: str | Path, spec: str, out: str | Path, n: int = 8, views: int = 4, seed: int = 0, size: int = 224
) -> Path:
    """Write a PNG grid: one row per image, the original then ``views`` augmented views."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pipeline = parse_pipeline(spec)
    images, rows = sample_images(source, n, seed=seed, size=size)
    batch = torch.from_numpy(images).unsqueeze(1)
    gen = torch.Generator().manual_seed(seed)
    augmented = [pipeline(batch, gen)[:, 0].numpy() for _ in range(views)]
    fig, axes = plt.subplots(
        len(images), views + 1, figsize=(1.6 * (views + 1), 1.6 * len(images) + 0.6), squeeze=False
    )
    for r in range(len(images)):
        label = textwrap.shorten(str(rows["label_name"].iat[r]), width=28, placeholder="...")
        part = rows["body_part"].iat[r]
        for c in range(views + 1):
            ax = axes[r, c]
            ax.imshow(images[r] if c == 0 else augmented[c - 1][r], cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title("original" if c == 0 else f"view {c}", fontsize=8)
        axes[r, 0].set_ylabel(f"{label}\n{part}" if part else label, fontsize=7)
    title = textwrap.fill(pipeline.spec().replace("+", " + ") or "none", width=int(22 * (views + 1)))
    fig.suptitle(title, fontsize=7)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def grid_png(rows: dict[str, np.ndarray], captions: list[str]) -> bytes:
    """PNG bytes of a grid: one row per title of ``rows`` ((n, H, W) uint8 images: the originals, then each
    augmentation applied to them), one column per caption. The study's final step stores it for its report."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(captions)
    fig, axes = plt.subplots(len(rows), n, figsize=(1.3 * n + 1.2, 1.3 * len(rows) + 0.3), squeeze=False)
    for r, (title, images) in enumerate(rows.items()):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(images[c], cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(captions[c], fontsize=7)
        axes[r, 0].set_ylabel(title, fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


__all__ = ["grid_png", "show"]
