"""MoCo v2 (Chen et al. 2020, arXiv:2003.04297): contrast against a queue of momentum-encoded keys."""

import copy

from lightly.loss import NTXentLoss
from lightly.models.modules import MoCoProjectionHead
from lightly.models.utils import deactivate_requires_grad, update_momentum
from lightly.utils.scheduler import cosine_schedule

from xrayssl.models.methods import SSLMethod, register_method


@register_method
class MoCo(SSLMethod):
    name = "moco"

    def __init__(self, backbone, queue: int = 4096, temperature: float = 0.2):
        super().__init__(backbone)
        self.head = MoCoProjectionHead(backbone.dim, 1024, 128)
        self.backbone_momentum = copy.deepcopy(backbone)
        self.head_momentum = copy.deepcopy(self.head)
        deactivate_requires_grad(self.backbone_momentum)
        deactivate_requires_grad(self.head_momentum)
        self.criterion = NTXentLoss(temperature=temperature, memory_bank_size=(queue, 128))

    def loss(self, x1, x2, progress):
        query = self.head(self.backbone(x1))
        key = self.head_momentum(self.backbone_momentum(x2)).detach()
        return self.criterion(query, key)

    def after_step(self, progress):
        m = cosine_schedule(int(progress * 10_000), 10_000, 0.99, 1.0)
        update_momentum(self.backbone, self.backbone_momentum, m)
        update_momentum(self.head, self.head_momentum, m)
