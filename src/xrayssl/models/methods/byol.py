"""BYOL (Grill et al. 2020, arXiv:2006.07733): predict a momentum encoder's projection of the other view.

The momentum rises from 0.99 to 1 on a cosine schedule over training."""

import copy

from lightly.loss import NegativeCosineSimilarity
from lightly.models.modules import BYOLPredictionHead, BYOLProjectionHead
from lightly.models.utils import deactivate_requires_grad, update_momentum
from lightly.utils.scheduler import cosine_schedule

from xrayssl.models.methods import SSLMethod, register_method


@register_method
class BYOL(SSLMethod):
    name = "byol"
    base_momentum = 0.99

    def __init__(self, backbone):
        super().__init__(backbone)
        self.projection = BYOLProjectionHead(backbone.dim, 1024, 256)
        self.prediction = BYOLPredictionHead(256, 1024, 256)
        self.backbone_momentum = copy.deepcopy(backbone)
        self.projection_momentum = copy.deepcopy(self.projection)
        deactivate_requires_grad(self.backbone_momentum)
        deactivate_requires_grad(self.projection_momentum)
        self.criterion = NegativeCosineSimilarity()

    def _online(self, x):
        return self.prediction(self.projection(self.backbone(x)))

    def _target(self, x):
        return self.projection_momentum(self.backbone_momentum(x)).detach()

    def loss(self, x1, x2, progress):
        p1, p2 = self._online(x1), self._online(x2)
        z1, z2 = self._target(x1), self._target(x2)
        return 0.5 * (self.criterion(p1, z2) + self.criterion(p2, z1))

    def after_step(self, progress):
        m = cosine_schedule(int(progress * 10_000), 10_000, self.base_momentum, 1.0)
        update_momentum(self.backbone, self.backbone_momentum, m)
        update_momentum(self.projection, self.projection_momentum, m)
