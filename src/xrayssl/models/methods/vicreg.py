"""VICReg (Bardes et al. 2022, arXiv:2105.04906): variance, invariance and covariance terms."""

from lightly.loss import VICRegLoss
from lightly.models.modules.heads import VICRegProjectionHead

from xrayssl.models.methods import SSLMethod, register_method


@register_method
class VICReg(SSLMethod):
    name = "vicreg"

    def __init__(self, backbone):
        super().__init__(backbone)
        self.head = VICRegProjectionHead(backbone.dim, 1024, 1024, num_layers=2)
        self.criterion = VICRegLoss()

    def loss(self, views, progress):
        return self.criterion(self.head(self.backbone(views.x1)), self.head(self.backbone(views.x2)))
