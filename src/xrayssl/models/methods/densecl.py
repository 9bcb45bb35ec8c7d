"""DenseCL (Wang et al. 2021, arXiv:2011.09157): MoCo-style contrast of the pooled features plus a dense
contrast between feature-map locations, each location matched to its most similar one in the other view.

On aligned radiographs a dense loss asks the encoder to tell apart *parts* of the joint, not only images.
Follows lightly's DenseCL example, with the momentum heads used for the keys."""

from lightly.loss import NTXentLoss
from lightly.models import utils
from lightly.models.modules import DenseCLProjectionHead

from xrayssl.models.methods import register_method
from xrayssl.models.methods.momentum import MomentumMethod


@register_method
class DenseCL(MomentumMethod):
    name = "densecl"
    momentum_parts = ("head_global", "head_local")

    def __init__(self, backbone, queue: int = 4096, temperature: float = 0.2):
        super().__init__(backbone)
        dim = backbone.dim
        self.head_global = DenseCLProjectionHead(dim, dim, 128)
        self.head_local = DenseCLProjectionHead(dim, dim, 128)
        self.init_momentum()
        bank = (queue, 128) if queue else 0  # 0: in-batch negatives only
        self.criterion_global = NTXentLoss(temperature=temperature, memory_bank_size=bank)
        self.criterion_local = NTXentLoss(temperature=temperature, memory_bank_size=bank)

    @staticmethod
    def _encode(backbone, head_global, head_local, x):
        fmap = backbone.feature_maps(x)[-1]
        tokens = fmap.flatten(2).transpose(1, 2)  # (B, h*w, C)
        return tokens, head_global(fmap.mean((2, 3))), head_local(tokens)

    def loss(self, views, progress):
        q_tokens, q_global, q_local = self._encode(self.backbone, self.head_global, self.head_local, views.x1)
        m = self.momentum
        k_tokens, k_global, k_local = (
            t.detach() for t in self._encode(m["backbone"], m["head_global"], m["head_local"], views.x2)
        )
        k_local = utils.select_most_similar(q_tokens.detach(), k_tokens, k_local)
        local = self.criterion_local(q_local.flatten(end_dim=1), k_local.flatten(end_dim=1))
        return 0.5 * (self.criterion_global(q_global, k_global) + local)
