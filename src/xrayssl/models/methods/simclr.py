"""SimCLR (Chen et al. 2020, arXiv:2002.05709): contrast two views against the rest of the batch."""

from lightly.loss import NTXentLoss
from lightly.models.modules import SimCLRProjectionHead

from xrayssl.models.methods import SSLMethod, register_method


@register_method
class SimCLR(SSLMethod):
    name = "simclr"

    def __init__(self, backbone, temperature: float = 0.1):
        super().__init__(backbone)
        self.head = SimCLRProjectionHead(backbone.dim, 1024, 128)
        self.criterion = NTXentLoss(temperature=temperature)

    def loss(self, views, progress):
        return self.criterion(self.head(self.backbone(views.x1)), self.head(self.backbone(views.x2)))
