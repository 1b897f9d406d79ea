"""CPU threads of torch for a run: given, or the cores that are idle when it starts.

torch uses every core by default. On a machine where other jobs run, those threads compete
with them and the run slows down far more than its share: measured on 2 cores with one core
busy, training at torch's default threads ran 3.5x slower than idle, against 1.3x with one
thread. :func:`auto_threads` therefore takes the cores this process may use minus the
one-minute load average (at least one); pass a number to fix it (for example to compare
timings, or when the load average is not a good guide). Results do not depend on the thread
count beyond float rounding (sums taken in another order, about 1e-7 relative).
"""

from __future__ import annotations

import os

__all__ = ["auto_threads", "resolve_threads", "set_threads"]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover  (not Linux)
        return os.cpu_count() or 1


def auto_threads() -> int:
    """The cores this process may use minus the 1-minute load average, at least 1."""
    try:
        busy = os.getloadavg()[0]
    except OSError:  # pragma: no cover  (no load average on this platform)
        busy = 0.0
    return max(1, _cores() - round(busy))


def resolve_threads(threads: int | None) -> int:
    """``threads`` itself, or :func:`auto_threads` for ``None``.

    Raises:
        ValueError: ``threads`` is below 1.
    """
    if threads is None:
        return auto_threads()
    if threads < 1:
        raise ValueError(f"threads must be >= 1 (or None for the idle cores), got {threads}")
    return int(threads)


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op CPU threads to :func:`resolve_threads` (``threads``); returns
    the number set."""
    import torch

    n = resolve_threads(threads)
    torch.set_num_threads(n)
    return n
