"""The original study's "chessboard" distortion, defined precisely.

The image is cut into square cells of ``cell`` x the image side (study: 20 px on 256 px, 0.078); the
content of each cell is shifted by its own random integer offsets in x and y of at most ``shift`` x the
image side (study: 5 px, 0.0195), wrapping around within the cell. Pixels never leave their cell, so
each cell keeps exactly its multiset of pixel values. Edge cells may be smaller than the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from xrayssl.augment.ops import Op, register_op
from xrayssl.errors import XraySSLError


def cell_layout(size: int, cell: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per pixel along one axis: its cell index, the cell's first pixel and the cell's length."""
    pos = torch.arange(size)
    index = pos // cell
    start = index * cell
    length = torch.clamp(size - start, max=cell)
    return index, start, length


@register_op
@dataclass
class Chessboard(Op):
    name = "chessboard"
    bounds: ClassVar[dict[str, tuple[float, float]]] = {"cell": (0.001, 1.0), "shift": (0.0, 0.5)}
    cell: float = 0.078
    shift: float = 0.0195
    p: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.cell <= 1 or not 0 <= self.shift <= self.cell:
            raise XraySSLError("chessboard: need 0 < cell <= 1 and 0 <= shift <= cell (fractions of the side)")

    def pixels(self, h: int, w: int) -> tuple[int, int]:
        side = min(h, w)
        return max(1, round(self.cell * side)), round(self.shift * side)

    def sample(self, n, h, w, gen):
        cell, shift = self.pixels(h, w)
        ny, nx = -(-h // cell), -(-w // cell)
        offsets = torch.randint(-shift, shift + 1, (n, 2, ny, nx), generator=gen)
        return {"offsets": offsets * self.chosen(n, gen).view(n, 1, 1, 1)}

    def source_index(self, offsets: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """(B, H*W) flat index of the source pixel of every output pixel.

        A pixel's source row depends only on its row and its cell column, and its source column only on its
        column and its cell row, so both are computed on small (B, H, cells) / (B, cells, W) tables first."""
        cell, _ = self.pixels(h, w)
        dev = offsets.device
        iy, sy, ly = (t.to(dev) for t in cell_layout(h, cell))
        ix, sx, lx = (t.to(dev) for t in cell_layout(w, cell))
        y = torch.arange(h, device=dev)
        x = torch.arange(w, device=dev)
        dy = offsets[:, 0][:, iy]  # (B, H, cells along x)
        dx = offsets[:, 1][:, :, ix]  # (B, cells along y, W)
        src_y = sy.view(1, h, 1) + torch.remainder((y - sy).view(1, h, 1) - dy, ly.view(1, h, 1))
        src_x = sx.view(1, 1, w) + torch.remainder((x - sx).view(1, 1, w) - dx, lx.view(1, 1, w))
        return (src_y[:, :, ix] * w + src_x[:, iy, :]).reshape(len(offsets), -1)

    def apply(self, x, params):
        offsets = params["offsets"]
        on = offsets.flatten(1).any(1)
        if not on.any():
            return x
        _, c, h, w = x.shape
        sub = x[on].reshape(int(on.sum()), c, h * w)
        idx = self.source_index(offsets[on], h, w).unsqueeze(1).expand_as(sub)
        x[on] = sub.gather(2, idx).view(-1, c, h, w)
        return x
