"""Lightning's banners kept off the terminal where they tell the user nothing.

Lightning logs at INFO level on every ``Trainer`` ("GPU available: False ...", "TPU
available ...", an advertisement for a logging service) and warns about its own deprecated
internals. :func:`quiet_lightning` silences both for the duration of a block (prediction and
evaluation use it; training keeps Lightning's messages in Python and shows them on the command
line only with ``--verbose``); :func:`silence_lightning` does so for the rest of the process.
Warnings and errors of Lightning (log level WARNING and above) always pass.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

__all__ = ["LIGHTNING_LOGGERS", "LIGHTNING_NOISE", "on_terminal", "quiet_lightning",
           "silence_lightning"]

LIGHTNING_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning")
"""Loggers Lightning configures on import (their INFO lines are the banners)."""

LIGHTNING_NOISE = (r".*LeafSpec.*", r".*treespec.*", r".*does not have many workers.*",
                   r".*log\('train_seconds'.*sync_dist.*")
"""Messages of warnings about Lightning's internals that a user cannot act on."""


def on_terminal() -> bool:
    """Whether standard output is a terminal: progress bars (training's and prediction's) are
    drawn only there; a log file gets plain lines instead."""
    import sys

    return bool(getattr(sys.stdout, "isatty", lambda: False)())


def _import_lightning() -> None:
    # Lightning sets its loggers' levels when first imported: import it before changing them.
    import lightning.pytorch  # noqa: F401


def silence_lightning() -> None:
    """Lightning's INFO lines and :data:`LIGHTNING_NOISE` off for the rest of the process."""
    _import_lightning()
    for name in LIGHTNING_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for message in LIGHTNING_NOISE:
        warnings.filterwarnings("ignore", message=message)


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Within the block, Lightning's INFO lines and :data:`LIGHTNING_NOISE` are off; the
    previous log levels and warning filters come back afterwards."""
    _import_lightning()
    loggers = [logging.getLogger(name) for name in LIGHTNING_LOGGERS]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        for message in LIGHTNING_NOISE:
            warnings.filterwarnings("ignore", message=message)
        try:
            for logger in loggers:
                logger.setLevel(max(logger.getEffectiveLevel(), logging.WARNING))
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)
