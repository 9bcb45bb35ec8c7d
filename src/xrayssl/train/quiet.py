"""Keep the terminal for xrayssl's own progress: Lightning's tips and library deprecation notes go."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator


def quiet_lightning() -> None:
    import lightning.pytorch  # noqa: F401  (importing Lightning resets its loggers to INFO: import it first)

    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")


@contextlib.contextmanager
def silenced() -> Iterator[None]:
    """Nothing from Lightning or the libraries under it while the block runs (API calls with progress_bar=False,
    runs inside a study): their loggers at ERROR, their warnings ignored; both restored after."""
    quiet_lightning()
    names = ("lightning.pytorch", "lightning.fabric", "lightning", "torch")
    levels = {n: logging.getLogger(n).level for n in names}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n in names:
            logging.getLogger(n).setLevel(logging.ERROR)
        try:
            yield
        finally:
            for n, level in levels.items():
                logging.getLogger(n).setLevel(level)
