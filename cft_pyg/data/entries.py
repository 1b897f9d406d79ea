"""One dataset entry: what a dataset lists, and its conversion (in a worker process) to the
arrays of a crystal ``Data`` or to a skip record.

Conversion never raises: every failure becomes a :class:`Skipped` with a
:class:`~cft_pyg.data.errors.SkipReason`, so bad input never kills a dataset build.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch_geometric.data import Data

from .errors import SkipReason, StructureError
from .featurization import Featurization

__all__ = ["Converted", "Entry", "Job", "Skipped", "arrays_to_data", "convert_entry",
           "is_number"]


class Entry(NamedTuple):
    """A crystal as a dataset lists it (exactly one of ``cif`` and ``cif_path`` is set)."""

    entry_id: str
    cif: str | None
    """The CIF text (CSV datasets)."""
    cif_path: str | None
    """The CIF file (folder datasets)."""
    targets: list[float] | None
    declared: int | None
    """The space group the file declares, if any."""


class Job(NamedTuple):
    """An entry, its position and the conversion options (sent to a worker)."""

    index: int
    entry: Entry
    featurization: Featurization
    space_group_check: str
    """``'strict'`` passes the declared group as ``expected_space_group``."""
    any_target: bool = False
    """Keep an entry with at least one finite target (a cache of every target, whose users
    select theirs); ``False``: every target must be finite."""


@dataclass(frozen=True)
class Converted:
    """A converted entry: picklable arrays of the crystal ``Data``."""

    index: int
    entry_id: str
    arrays: dict[str, Any]
    declared: int | None


@dataclass(frozen=True)
class Skipped:
    """An entry that could not be used, with the reason."""

    index: int
    entry_id: str
    reason: SkipReason
    message: str


def convert_entry(job: Job) -> Converted | Skipped:
    """Parse and standardize one entry (:func:`~cft_pyg.data.from_structure`); never raises.

    The job's :class:`~cft_pyg.data.Featurization` makes the ``Data``; with
    ``space_group_check='strict'`` the declared group is the ``expected_space_group``.
    """
    from .cif import parse_cif_text
    from .structure import from_structure

    index, (entry_id, cif, cif_path, y, declared), featurization, check, any_target = job
    try:
        if y is not None and not (any if any_target else all)(math.isfinite(v) for v in y):
            return Skipped(index, entry_id, SkipReason.MISSING_TARGET,
                           f"target value missing or not finite: {y}")
        if cif is not None and not cif.strip():
            return Skipped(index, entry_id, SkipReason.MALFORMED_CIF, "empty CIF field")
        if cif is None:
            if cif_path is None or not os.path.isfile(cif_path):
                return Skipped(index, entry_id, SkipReason.MISSING_FILE,
                               f"CIF file not found: {cif_path}")
            source: str = Path(cif_path).read_text(errors="replace")
        else:
            source = cif
        structure = parse_cif_text(source)
        expected = declared if check == "strict" else None
        data = from_structure(
            structure, featurization, expected_space_group=expected,
            y=None if y is None else (y[0] if len(y) == 1 else y), material_id=entry_id)
    except StructureError as exc:
        return Skipped(index, entry_id, SkipReason(exc.reason), str(exc))
    except Exception as exc:  # anything unexpected is recorded, never fatal
        return Skipped(index, entry_id, SkipReason.ERROR, f"{type(exc).__name__}: {exc}")
    arrays = {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in data.items()}
    return Converted(index, entry_id, arrays, declared)


def arrays_to_data(arrays: dict[str, Any]) -> Data:
    """The crystal ``Data`` of :attr:`Converted.arrays`."""
    data = Data(**{k: (torch.from_numpy(v) if isinstance(v, np.ndarray) else v)
                   for k, v in arrays.items()})
    data.num_nodes = int(data.z.shape[0])
    return data


def is_number(value: Any) -> bool:
    """Whether ``float(value)`` works (a target or group cell of a table)."""
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
