"""BYOL (Grill et al. 2020, arXiv:2006.07733): predict a momentum encoder's projection of the other view.

The momentum rises from BASE_MOMENTUM (0.99) to 1 on a cosine schedule over training (momentum.py)."""

from lightly.loss import NegativeCosineSimilarity
from lightly.models.modules import BYOLPredictionHead, BYOLProjectionHead

from xrayssl.models.methods import register_method
from xrayssl.models.methods.momentum import MomentumMethod


@register_method
class BYOL(MomentumMethod):
    name = "byol"
    momentum_parts = ("projection",)

    def __init__(self, backbone):
        super().__init__(backbone)
        self.projection = BYOLProjectionHead(backbone.dim, 1024, 256)
        self.prediction = BYOLPredictionHead(256, 1024, 256)
        self.init_momentum()
        self.criterion = NegativeCosineSimilarity()

    def _online(self, x):
        return self.prediction(self.projection(self.backbone(x)))

    def _target(self, x):
        return self.momentum["projection"](self.momentum["backbone"](x)).detach()

    def loss(self, views, progress):
        p1, p2 = self._online(views.x1), self._online(views.x2)
        z1, z2 = self._target(views.x1), self._target(views.x2)
        return 0.5 * (self.criterion(p1, z2) + self.criterion(p2, z1))
