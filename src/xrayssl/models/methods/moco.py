"""MoCo v2 (Chen et al. 2020, arXiv:2003.04297): contrast against a queue of momentum-encoded keys."""

from lightly.loss import NTXentLoss
from lightly.models.modules import MoCoProjectionHead

from xrayssl.models.methods import SSLMethod, momentum_copies, register_method, update_momentum_copies


@register_method
class MoCo(SSLMethod):
    name = "moco"

    def __init__(self, backbone, queue: int = 4096, temperature: float = 0.2):
        super().__init__(backbone)
        self.head = MoCoProjectionHead(backbone.dim, 1024, 128)
        self.momentum = momentum_copies(self, ("backbone", "head"))
        self.criterion = NTXentLoss(temperature=temperature, memory_bank_size=(queue, 128))

    def loss(self, views, progress):
        query = self.head(self.backbone(views.x1))
        key = self.momentum["head"](self.momentum["backbone"](views.x2)).detach()
        return self.criterion(query, key)

    def after_step(self, progress):
        update_momentum_copies(self, self.momentum, progress, base=0.99)
