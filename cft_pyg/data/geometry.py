r"""The measured geometry of a standardized crystal: the input's own atoms at its sites.

Standardization (:func:`~cft_pyg.data.standardize`) moves every atom onto the exactly
symmetric position of the detected group ``G`` (the Reynolds projection), and the metric onto
``G``'s.  That is what makes the Fourier encoding exact, but a distance computed from the
symmetrized crystal jumps, by up to about ``symprec``, whenever a tolerance or a small
distortion changes ``G``.  The physical distances do not.

:func:`measured_positions` gives, for every atom ``k`` of the standardized cell, the position
of the **input atom standing at that site**, in the same standard basis, and the input's own
lattice in that basis:

.. math::

    L_m = P^{-\top} L_{\mathrm{in}}, \qquad
    x^m_k = x_k - P\,\big(d_k - \operatorname{round}(d_k)\big), \qquad
    d_k = P^{-1}(x_k - p) - x_{j(k)},

with ``x_std = P x_in + p`` the standardization map (``std.transformation_matrix``,
``std.origin_shift``) and ``j(k)`` the input atom of the same species nearest (in Å, over the
input lattice's translations) to the site of ``k``.  ``x^m_k L_m`` is then an input atom's
Cartesian position plus a lattice vector, up to one rigid translation and the input's frame,
so every distance between the ``x^m`` (with the periodicity of ``L_m``) is a distance of the
physical crystal:

* **continuous** in the atomic positions, also where the detected group changes;
* the **same for every description** of the crystal (setting, origin, atom order, rotation,
  mirror image, supercell): the site-to-atom assignment is a physical one, and the canonical
  standardized cell covers the same atoms whatever the description;
* **equal to the symmetrized geometry** for an exactly symmetric input (to float rounding).

The graph built from them (``Featurization(geometry='measured')``) keeps the standardized
atoms, their order and their symmetrized ``frac_coords``/``pos``/``cell`` (encoding and
lattice features), and replaces only ``edge_index``/``cell_offsets``/``edge_dist``.
"""

from __future__ import annotations

import numpy as np

from .errors import StructureError
from .standardization import StandardizedCrystal

__all__ = ["measured_positions"]

_MAX_SITE_ERROR = 1.0
"""Å: an input atom farther than this from the site it stands for means that the
standardization map does not describe the input (a bug, never a tolerance to tune)."""


def measured_positions(std: StandardizedCrystal, lattice: np.ndarray, frac: np.ndarray,
                       numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The input's own atoms at the sites of a standardized crystal.

    Args:
        std: the standardized crystal of the input (:func:`~cft_pyg.data.standardize`).
        lattice: ``(3, 3)`` the input's lattice rows (Å), as given to ``standardize``.
        frac: ``(m, 3)`` the input's fractional coordinates.
        numbers: ``(m,)`` the input's atomic numbers.

    Returns:
        ``(frac_m, lattice_m)``: ``(n, 3)`` float64 fractional coordinates in the standard
        basis (not wrapped, each within the site error of ``std.frac_coords``) and the
        ``(3, 3)`` lattice rows ``P^-T L`` (the input's frame).

    Raises:
        StructureError: a site with no input atom of its species within 1 Å (the map
            ``x_std = P x + p`` does not describe this input).
    """
    lattice = np.asarray(lattice, dtype=np.float64).reshape(3, 3)
    frac = np.asarray(frac, dtype=np.float64).reshape(-1, 3)
    numbers = np.asarray(numbers).reshape(-1)
    P = np.asarray(std.transformation_matrix, dtype=np.float64)
    p = np.asarray(std.origin_shift, dtype=np.float64)
    P_inv = np.linalg.inv(P)
    sites = (np.asarray(std.frac_coords, dtype=np.float64) - p) @ P_inv.T  # (n, 3) input basis
    d = sites[:, None, :] - frac[None, :, :]  # (n, m, 3)
    rest = d - np.round(d)
    err = np.linalg.norm(rest @ lattice, axis=-1)  # (n, m) Å, nearest image
    err[np.asarray(std.numbers)[:, None] != numbers[None, :]] = np.inf
    j = np.argmin(err, axis=1)
    worst = float(err[np.arange(len(j)), j].max()) if len(j) else 0.0
    if not worst <= _MAX_SITE_ERROR:
        raise StructureError(
            f"measured geometry: a standardized site has no input atom of its species within "
            f"{_MAX_SITE_ERROR} Å (nearest {worst:.3g} Å)", "symmetry_failed")
    offset = rest[np.arange(len(j)), j]  # (n, 3) input basis: site - nearest input image
    frac_m = np.asarray(std.frac_coords, dtype=np.float64) - offset @ P.T
    return frac_m, P_inv.T @ lattice
