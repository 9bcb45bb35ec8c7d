"""Decoupled contrastive learning (Yeh et al. 2022, arXiv:2110.06848): SimCLR without the positive pair in
the denominator, which made it less dependent on large batches and settings (+6.4 points at batch 256)."""

from lightly.loss import DCLLoss

from xrayssl.models.methods import register_method
from xrayssl.models.methods.simclr import SimCLR


@register_method
class DCL(SimCLR):
    name = "dcl"

    def __init__(self, backbone, temperature: float = 0.1):
        super().__init__(backbone, temperature)
        self.criterion = DCLLoss(temperature=temperature)
