"""Keep the terminal for xrayssl's own progress: Lightning's tips and library deprecation notes go."""

from __future__ import annotations

import logging
import warnings


def quiet_lightning() -> None:
    import lightning.pytorch  # noqa: F401  (importing Lightning resets its loggers to INFO: import it first)

    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
