r"""The measured geometry of a standardized crystal: the input's own atoms at its sites.

Standardization (:func:`~cft_pyg.data.standardize`) moves every atom onto the exactly
symmetric position of the detected group ``G`` (the Reynolds projection), and the metric onto
``G``'s.  That is what makes the Fourier encoding exact, but a distance computed from the
symmetrized crystal jumps, by up to about ``symprec``, whenever a tolerance or a small
distortion changes ``G``.  The physical distances do not.

:func:`measured_positions` gives, for every atom ``k`` of the standardized cell, the
**input's own position at that site**, in the same standard basis, and the input's own
lattice in that basis:

.. math::

    L_m = P^{-\top} L_{\mathrm{in}}, \qquad
    x^m_k = x_k - \frac{1}{|C_k|} \sum_{j \in C_k} r_{kj}, \qquad
    r_{kj} = \big(x_k - (P x_j + p)\big) \bmod T,

with ``x_std = P x_in + p`` the standardization map (``std.transformation_matrix``,
``std.origin_shift``), ``T`` the translations of the detected lattice (integer vectors and the
centring vectors of the group; the residual ``r_{kj}`` is the shortest in Å), and ``C_k`` the
input atoms of the site's species within ``tolerance`` (the symmetrization's, ``4 symprec``) of
site ``k``: the copies of that atom.  Usually ``C_k`` holds one atom.  It holds several when the
input cell is (nearly) a supercell of the detected lattice, with copies that differ by the
distortion: the standardized cell cannot hold them all, and their mean is the one choice that
does not depend on which copy a description happens to put at the site.

Every distance between the ``x^m`` (with the periodicity of ``L_m``) is then a distance of the
physical crystal, with the copies of an atom averaged over the detected translations:

* **continuous** in the atomic positions, also where the detected group changes (as long as
  the detected lattice and the copies stay the same);
* the **same for every description** of the crystal (setting, origin, atom order, rotation,
  mirror image, supercell): the copies are a physical set, whatever the input cell;
* **equal to the symmetrized geometry** for an exactly symmetric input (to float rounding),
  and to the input's own distances when no atom has copies.

The graph built from them (``Featurization(geometry='measured')``) keeps the standardized
atoms, their order and their symmetrized ``frac_coords``/``pos``/``cell`` (encoding and
lattice features), and replaces only ``edge_index``/``cell_offsets``/``edge_dist``.
"""

from __future__ import annotations

import numpy as np

from .errors import StructureError
from .standardization import StandardizedCrystal

__all__ = ["measured_positions"]


def measured_positions(std: StandardizedCrystal, lattice: np.ndarray, frac: np.ndarray,
                       numbers: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """The input's own atoms at the sites of a standardized crystal.

    Args:
        std: the standardized crystal of the input (:func:`~cft_pyg.data.standardize`).
        lattice: ``(3, 3)`` the input's lattice rows (Å), as given to ``standardize``.
        frac: ``(m, 3)`` the input's fractional coordinates.
        numbers: ``(m,)`` the input's atomic numbers.
        tolerance: the largest distance (Å) of an input atom from the site it stands for
            (:attr:`Featurization.symmetrization_tolerance
            <cft_pyg.data.Featurization.symmetrization_tolerance>`).

    Returns:
        ``(frac_m, lattice_m)``: ``(n, 3)`` float64 fractional coordinates in the standard
        basis (not wrapped, each within ``tolerance`` of ``std.frac_coords``) and the
        ``(3, 3)`` lattice rows ``P^-T L`` (the input's frame).

    Raises:
        StructureError: a site with no input atom of its species within ``tolerance`` (the
            map ``x_std = P x + p`` does not describe this input).
    """
    lattice = np.asarray(lattice, dtype=np.float64).reshape(3, 3)
    frac = np.asarray(frac, dtype=np.float64).reshape(-1, 3)
    numbers = np.asarray(numbers).reshape(-1)
    P = np.asarray(std.transformation_matrix, dtype=np.float64)
    p = np.asarray(std.origin_shift, dtype=np.float64)
    lattice_m = np.linalg.inv(P).T @ lattice
    sites = np.asarray(std.frac_coords, dtype=np.float64)  # (n, 3)
    images = frac @ P.T + p  # (m, 3): the input atoms in the standard basis
    group = std.space_group
    pure = np.all(group.rotations == np.eye(3, dtype=group.rotations.dtype), axis=(1, 2))
    centring = group.translations[pure]  # (c, 3), the zero vector included
    # residual of every (site, atom) pair modulo the translations of the detected lattice
    d = sites[:, None, None, :] - images[None, :, None, :] - centring[None, None, :, :]
    rest = d - np.round(d)  # (n, m, c, 3)
    err = np.linalg.norm(rest @ lattice_m, axis=-1)  # (n, m, c) Å
    best = np.argmin(err, axis=-1)  # (n, m)
    rest = np.take_along_axis(rest, best[..., None, None], axis=2)[:, :, 0, :]  # (n, m, 3)
    err = np.take_along_axis(err, best[..., None], axis=2)[:, :, 0]  # (n, m)
    copies = (err <= tolerance) & (np.asarray(std.numbers)[:, None] == numbers[None, :])
    if not copies.any(axis=1).all():
        k = int(np.flatnonzero(~copies.any(axis=1))[0])
        raise StructureError(
            f"measured geometry: site {k} of the standardized cell has no input atom of its "
            f"species within {tolerance:.3g} Å", "symmetry_failed")
    weight = copies / copies.sum(axis=1, keepdims=True)
    frac_m = sites - np.einsum("nm,nmk->nk", weight, rest)
    return frac_m, lattice_m
