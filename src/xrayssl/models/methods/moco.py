"""MoCo v2 (Chen et al. 2020, arXiv:2003.04297): contrast against a queue of momentum-encoded keys."""

from lightly.loss import NTXentLoss
from lightly.models.modules import MoCoProjectionHead

from xrayssl.models.methods import register_method
from xrayssl.models.methods.momentum import MomentumMethod


@register_method
class MoCo(MomentumMethod):
    name = "moco"
    momentum_parts = ("head",)

    def __init__(self, backbone, queue: int = 4096, temperature: float = 0.2):
        super().__init__(backbone)
        self.head = MoCoProjectionHead(backbone.dim, 1024, 128)
        self.init_momentum()
        self.criterion = NTXentLoss(temperature=temperature, memory_bank_size=(queue, 128))

    def loss(self, views, progress):
        query = self.head(self.backbone(views.x1))
        key = self.momentum["head"](self.momentum["backbone"](views.x2)).detach()
        return self.criterion(query, key)
