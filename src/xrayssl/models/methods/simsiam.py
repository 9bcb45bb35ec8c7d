"""SimSiam (Chen & He 2021, arXiv:2011.10566): BYOL without a momentum encoder, stop-gradient only."""

from lightly.loss import NegativeCosineSimilarity
from lightly.models.modules import SimSiamPredictionHead, SimSiamProjectionHead

from xrayssl.models.methods import SSLMethod, register_method


@register_method
class SimSiam(SSLMethod):
    name = "simsiam"

    def __init__(self, backbone):
        super().__init__(backbone)
        self.projection = SimSiamProjectionHead(backbone.dim, 1024, 1024)
        self.prediction = SimSiamPredictionHead(1024, 256, 1024)
        self.criterion = NegativeCosineSimilarity()

    def loss(self, views, progress):
        z1, z2 = self.projection(self.backbone(views.x1)), self.projection(self.backbone(views.x2))
        p1, p2 = self.prediction(z1), self.prediction(z2)
        return 0.5 * (self.criterion(p1, z2.detach()) + self.criterion(p2, z1.detach()))
