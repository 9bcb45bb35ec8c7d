"""VICRegL (Bardes et al. 2022, arXiv:2210.01571): VICReg on pooled features plus a local VICReg term between
feature-map locations of the two views, matched by where they lie in the source image and by feature distance.

The location of every feature-map cell in the source image comes from the views' geometry (``Views.where``),
so the local term knows which parts of two differently cropped/rotated views show the same anatomy."""

import torch
from lightly.loss import VICRegLLoss
from lightly.models.modules.heads import VicRegLLocalProjectionHead, VICRegProjectionHead

from xrayssl.models.methods import SSLMethod, register_method


def cell_grid(where: torch.Tensor | None, h: int, w: int, batch: int, device) -> torch.Tensor:
    """(B, h, w, 2) source-image coordinates ([-1, 1]) of the centres of an h x w feature map's cells."""
    u = (torch.arange(w, device=device, dtype=torch.float32) * 2 + 1) / w - 1
    v = (torch.arange(h, device=device, dtype=torch.float32) * 2 + 1) / h - 1
    pts = torch.stack([u.expand(h, w), v.view(-1, 1).expand(h, w), torch.ones(h, w, device=device)], -1)
    if where is None:
        return pts[..., :2].expand(batch, h, w, 2)
    mapped = torch.einsum("bij,hwj->bhwi", where.to(device, torch.float32), pts)
    return mapped[..., :2]


@register_method
class VICRegL(SSLMethod):
    name = "vicregl"

    def __init__(self, backbone, alpha: float = 0.75):
        super().__init__(backbone)
        self.head = VICRegProjectionHead(backbone.dim, 1024, 1024, num_layers=2)
        self.local_head = VicRegLLocalProjectionHead(backbone.dim, 128, 128)
        self.alpha = alpha

    def _features(self, x):
        fmap = self.backbone.feature_maps(x)[-1]
        return self.head(fmap.mean((2, 3))), self.local_head(fmap.permute(0, 2, 3, 1))

    def loss(self, views, progress):
        f1, f2 = self._features(views.x1), self._features(views.x2)
        b, h, w, _ = f1[1].shape
        grids = [cell_grid(wh, h, w, b, views.x1.device) for wh in (views.where1, views.where2)]
        # the authors match 20 and 4 nearest locations; a 64-96 px radiograph gives a 2x2-3x3 final map
        matches = (min(20, h * w), min(4, h * w))
        criterion = VICRegLLoss(alpha=self.alpha, num_matches=matches)
        # lightly returns shape [1] here; the harness (like any optimiser loop) expects a scalar
        return criterion(global_view_features=[f1, f2], global_view_grids=grids).reshape(())
