"""The momentum machinery of BYOL, MoCo and DenseCL, held once (as solo-learn's ``BaseMomentumMethod``): a frozen
exponential-moving-average copy of the backbone and the method's named heads, its momentum rising from
``base_momentum`` to 1 on a cosine schedule over training, updated after each optimiser step."""

from __future__ import annotations

import copy

from torch import nn

from xrayssl.catalog import BASE_MOMENTUM
from xrayssl.models.methods import SSLMethod

SCHEDULE_STEPS = 10_000  # progress in [0, 1] is read on this grid by lightly's cosine schedule


class MomentumMethod(SSLMethod):
    """``momentum_parts``: the heads copied besides the backbone; subclasses call ``init_momentum`` once those
    exist. The copies sit in ``self.momentum`` (a ModuleDict: the checkpoints' key names)."""

    momentum_parts: tuple[str, ...] = ()
    base_momentum = BASE_MOMENTUM

    def init_momentum(self) -> None:
        from lightly.models.utils import deactivate_requires_grad

        names = ("backbone", *self.momentum_parts)
        self.momentum = nn.ModuleDict({n: copy.deepcopy(getattr(self, n)) for n in names})
        deactivate_requires_grad(self.momentum)

    def momentum_at(self, progress: float) -> float:
        """The scheduled momentum when training is ``progress`` of the way through."""
        from lightly.utils.scheduler import cosine_schedule

        return cosine_schedule(int(progress * SCHEDULE_STEPS), SCHEDULE_STEPS, self.base_momentum, 1.0)

    def after_step(self, progress: float) -> None:
        from lightly.models.utils import update_momentum

        m = self.momentum_at(progress)
        for name, target in self.momentum.items():
            update_momentum(getattr(self, name), target, m)
