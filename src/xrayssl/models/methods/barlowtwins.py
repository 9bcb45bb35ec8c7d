"""Barlow Twins (Zbontar et al. 2021, arXiv:2103.03230): decorrelate embedding dimensions across views."""

from lightly.loss import BarlowTwinsLoss
from lightly.models.modules import BarlowTwinsProjectionHead

from xrayssl.models.methods import SSLMethod, register_method


@register_method
class BarlowTwins(SSLMethod):
    name = "barlowtwins"

    def __init__(self, backbone):
        super().__init__(backbone)
        self.head = BarlowTwinsProjectionHead(backbone.dim, 1024, 1024)
        self.criterion = BarlowTwinsLoss()

    def loss(self, views, progress):
        return self.criterion(self.head(self.backbone(views.x1)), self.head(self.backbone(views.x2)))
