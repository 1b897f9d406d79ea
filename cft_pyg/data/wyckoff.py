"""Wyckoff positions of a standardized crystal: the coordinate-free description of a
crystal by its space group and, for every atom, the Wyckoff letter of its site and the
order of its site-symmetry group (spglib).

This is the input of the coordinate-free baselines (Wren, Wrenformer: composition, space
group, Wyckoff letters; no distances, no free coordinates).  :func:`wyckoff_sites` reads a
crystal ``Data`` of :func:`~cft_pyg.data.from_structure` (its ``frac_coords`` are already
moved onto the exact positions of its ``space_group``) and :class:`AddWyckoff` stores the
result on the ``Data`` as a transform, so that it is computed once per crystal.

Letters: ``'a'`` .. ``'z'`` are ``0 .. 25`` and ``'A'`` (the 27th position of Pmmm,
No. 47) is ``26``: :data:`NUM_LETTERS` letters.
"""

from __future__ import annotations

import numpy as np
import torch
from torch_geometric.data import Data

__all__ = ["NUM_LETTERS", "AddWyckoff", "letter_index", "wyckoff_sites"]

NUM_LETTERS = 27
"""Wyckoff letters a..z and A."""


def letter_index(letter: str) -> int:
    """``'a'`` -> 0, ..., ``'z'`` -> 25, ``'A'`` -> 26."""
    if letter == "A":
        return 26
    if len(letter) != 1 or not "a" <= letter <= "z":
        raise ValueError(f"not a Wyckoff letter: {letter!r}")
    return ord(letter) - ord("a")


def wyckoff_sites(data: Data, symprec: float = 1e-3) -> tuple[torch.Tensor, torch.Tensor]:
    """Wyckoff letter and site-symmetry order of every atom of a standardized crystal.

    Args:
        data: one crystal with ``frac_coords`` ``(n, 3)``, ``cell`` ``(1, 3, 3)``, ``z``
            ``(n,)`` and ``space_group`` (as :func:`~cft_pyg.data.from_structure` makes it).
        symprec: spglib tolerance (Å); the positions are exact, so a small one suffices.

    Returns:
        ``letters`` ``(n,)`` long in ``0..26`` and ``site_order`` ``(n,)`` long: the order
        of the site-symmetry group (the space group's point-group order times its
        centring count, divided by the site's multiplicity in the conventional cell).

    Raises:
        ValueError: spglib finds another group than ``data.space_group`` (the crystal is
            not standardized, or was changed after standardization).
    """
    import spglib

    cell = (data.cell[0].double().numpy(), data.frac_coords.double().numpy(),
            data.z.numpy())
    dataset = spglib.get_symmetry_dataset(cell, symprec=symprec)
    expected = int(data.space_group.reshape(-1)[0])
    if dataset is None or int(dataset.number) != expected:
        found = None if dataset is None else int(dataset.number)
        raise ValueError(f"spglib finds space group {found} at symprec {symprec}, the crystal "
                         f"says {expected} (is it a standardized crystal?)")
    letters = torch.tensor([letter_index(w) for w in dataset.wyckoffs], dtype=torch.long)
    orbit = np.asarray(dataset.equivalent_atoms)
    _, inverse, counts = np.unique(orbit, return_inverse=True, return_counts=True)
    multiplicity = counts[inverse]
    operations = len(dataset.rotations)  # on this (conventional) cell, centrings included
    site_order = torch.as_tensor(operations // multiplicity, dtype=torch.long)
    return letters, site_order


class AddWyckoff:
    """Transform: store :func:`wyckoff_sites` on a crystal as ``data.wyckoff`` (letters)
    and ``data.site_order``, both ``(n,)`` long, so that batching concatenates them.

    Args:
        symprec: spglib tolerance of :func:`wyckoff_sites`.
    """

    def __init__(self, symprec: float = 1e-3) -> None:
        self.symprec = float(symprec)

    def __call__(self, data: Data) -> Data:
        data = data.clone()
        data.wyckoff, data.site_order = wyckoff_sites(data, self.symprec)
        return data

    def __repr__(self) -> str:
        return f"AddWyckoff(symprec={self.symprec})"
