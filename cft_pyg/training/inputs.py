"""What a model predicts for: ``Data``, structure files and pymatgen/ASE objects.

:func:`featurization_for` is how crystals become ``Data`` for a model (the featurization its
checkpoint records), used by :func:`~cft_pyg.training.predict` and ``cft-pyg predict``;
:func:`as_crystals` converts the inputs of :func:`~cft_pyg.training.predict`.  Importing
this module loads neither torch nor the data pipeline (``cft-pyg --help`` stays fast).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["NO_FEATURIZATION_WARNING", "as_crystals", "featurization_for"]

NO_FEATURIZATION_WARNING = (
    "the checkpoint does not record how its training crystals were featurized (trained on "
    "Data built by hand?); using the default featurization")
"""The warning of :func:`featurization_for` for a checkpoint without a featurization."""


def featurization_for(module: Any, warn: Callable[[str], None] | None = None) -> Any:
    """How crystals become ``Data`` for a model: exactly as its training crystals did.

    Args:
        module: the model (``module.featurization``: the
            :class:`~cft_pyg.data.Featurization` its checkpoint records, or ``None``).
        warn: called with :data:`NO_FEATURIZATION_WARNING` when the checkpoint records
            none (default: :func:`warnings.warn`).

    Returns:
        The model's :class:`~cft_pyg.data.Featurization`, or
        :data:`~cft_pyg.data.DEFAULT_FEATURIZATION` (with the warning) when it records none.
    """
    featurization = getattr(module, "featurization", None)
    if featurization is not None:
        return featurization
    from ..data.featurization import DEFAULT_FEATURIZATION

    if warn is None:
        warnings.warn(NO_FEATURIZATION_WARNING, UserWarning, stacklevel=3)
    else:
        warn(NO_FEATURIZATION_WARNING)
    return DEFAULT_FEATURIZATION


def _is_path(item: Any) -> bool:
    return isinstance(item, (str, os.PathLike))


def _is_crystal_object(item: Any) -> bool:
    """A pymatgen or ASE object (Structure, Molecule, Atoms): one input, not a sequence."""
    module = type(item).__module__
    return module.startswith(("pymatgen", "ase"))


def as_crystals(inputs: Any, module: Any) -> Any:
    """The inputs of :func:`~cft_pyg.training.predict` as crystal ``Data`` for ``module``.

    ``Data`` and datasets pass unchanged.  Structure file paths (a folder: its structure
    files, see :func:`cft_pyg.data.readers.structure_files`) and pymatgen ``Structure`` /
    ASE ``Atoms`` objects, alone or in a list (mixed with ``Data`` too), are converted with
    :func:`cft_pyg.data.from_file` / :func:`cft_pyg.data.from_object` and the model's own
    featurization (:func:`featurization_for`).

    Args:
        inputs: a ``Data`` sequence or dataset, one path or object, or a list of them.
        module: the model the crystals are for.

    Returns:
        ``inputs`` itself when there is nothing to convert, else a list of ``Data`` (in the
        input order; folders in file-name order).

    Raises:
        FileNotFoundError: a path that does not exist.
        StructureError: an input that cannot be read (the message says which).
    """
    if _is_path(inputs) or _is_crystal_object(inputs):
        items: Sequence[Any] = [inputs]
    elif isinstance(inputs, (list, tuple)):
        items = inputs
    else:
        return inputs  # a dataset (or a single Data): as before
    if all(not (_is_path(x) or _is_crystal_object(x)) for x in items):
        return inputs
    from ..data.errors import StructureError
    from ..data.readers import from_file, from_object, structure_files

    featurization = featurization_for(module)
    out: list[Any] = []
    for k, item in enumerate(items):
        if _is_path(item) and os.path.isdir(item):
            files: list[Any] = list(structure_files(item))
            if not files:
                raise StructureError(f"no structure files in folder {item}", "unsupported_input")
            _note_other_files(item)
        else:
            files = [item]
        for x in files:
            if not (_is_path(x) or _is_crystal_object(x)):
                out.append(x)
                continue
            try:
                out.append(from_file(x, featurization) if _is_path(x)
                           else from_object(x, featurization))
            except StructureError as exc:
                what = str(x) if _is_path(x) else f"input {k} ({type(x).__name__})"
                raise StructureError(f"{what}: {exc}", exc.reason) from exc
    return out


def _note_other_files(folder: Any) -> None:
    """Warn (once per folder) about the files of ``folder`` that are not read."""
    from ..data.readers import other_files

    others = other_files(folder)
    if others:
        warnings.warn(f"not read in {folder}: {len(others)} file(s) whose names are not of a "
                      f"structure file ({', '.join(q.name for q in others[:20])}"
                      f"{', ...' if len(others) > 20 else ''}); pass a file explicitly to "
                      "read it", UserWarning, stacklevel=4)
