"""Standardization: spglib's conventional cell, symmetrized exactly, with a canonical origin.

:func:`standardize` (used by :func:`cft_pyg.data.from_structure`):

1. validates the input (:mod:`cft_pyg.data.validation`) before any call into spglib;
2. runs ``spglib.get_symmetry_dataset`` on an LLL-reduced basis of the input lattice and,
   when spglib's Hall setting is not ``default_hall_number(n)``, again with that setting;
3. places the atoms of spglib's conventional cell at the **measured** input positions they
   stand for (:func:`_measured_std_positions`: spglib's own idealized ``std_positions``
   depend on the order of the atoms), moves them to the origin that fits the operations
   best (least squares) and **symmetrizes** them with the operations of ``SpaceGroup(n)``
   (the Reynolds projection :func:`symmetrize_frac_coords`; the metric is averaged over the
   point group), so every operation maps the atoms onto themselves to ~1e-12 in fractional
   coordinates and the result depends on the atom set only, not on its order or
   description;
4. with ``canonical_handedness=True`` (the default) maps the second member of an
   enantiomorphic pair (P4_3, P3_2, P6_5, ...) onto the first (P4_1, P3_1, P6_1, ...) by
   ``x -> -x``, which takes the default setting of one exactly onto that of the other;
5. with ``canonical_origin=True`` picks, among the descriptions related by the
   metric-preserving elements of the group's affine normalizer
   (:mod:`cft_pyg.symmetry.normalizer`; the proper ones, and with
   ``canonical_handedness=True`` the improper ones too), and for polar groups an atom of the
   rarest species (smallest Z on ties) pinned to 0 along the free axes, the one with the
   smallest key (atoms sorted by (Z, coordinates rounded to 1e-4)).

**Mirror images.**  With both canonical choices (the default) a crystal and its mirror image
standardize to the same crystal: for a group with an improper operation the mirror image
is a rotated copy already; for the 43 other Sohncke groups the improper normalizer elements
put both handedness in one candidate set; for the 11 enantiomorphic pairs step 4 brings
both into one group first.  ``StandardizedCrystal.mirrored`` says whether the result is the
input's mirror image (``std_rotation_matrix``, the Cartesian map from the input, is then a
rotoinversion).  Why this mechanism rather than averaging a
model over both images: it is exact for every model at no cost, and the featurized crystal
itself (not only one model's output) is the same for both images.

Mapping back (spglib's convention): ``x_std = P x + p`` (mod 1) with ``P`` =
``transformation_matrix`` and ``p`` = ``origin_shift``; see :func:`std_to_input_frac`.
How often re-descriptions of a crystal agree with and without the canonical origin is
measured in ``benchmarks/README.md``.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import spglib

from ..symmetry.normalizer import ENANTIOMORPHIC_PARTNER
from ..symmetry.space_group import SpaceGroup, default_hall_number
from .canonical_origin import _canonical_origin, _wrap
from .errors import StructureError
from .featurization import Featurization
from .validation import _reduced_lattice, to_cell, validate_cell

# spglib's C library prints "spglib: ... failed." to stderr when one of its internal attempts
# fails and it tries another; the result it returns is unaffected, so the lines only alarm
# users. Set SPGLIB_WARNING=ON in the environment to see them again.
os.environ.setdefault("SPGLIB_WARNING", "OFF")

__all__ = [
    "StandardizedCrystal",
    "canonical_crystal",
    "standardize",
    "std_to_input_frac",
    "symmetrize_frac_coords",
]


# ---------------------------------------------------------------------------- symmetrization
def _periodic_match(
    images: np.ndarray, frac: np.ndarray, numbers: np.ndarray, lattice: np.ndarray,
    tolerance: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For images (g, n, 3) find the same-type atom nearest to each image.

    Returns ``perm`` (g, n) atom index, ``shift`` (g, n, 3) integer lattice vectors with
    ``images ~ frac[perm] + shift`` and the Cartesian mismatch (g, n): for the image ``y``
    and atom ``x_j``, with ``d = y - x_j``, the length of ``(d - round(d)) @ lattice``,
    minimized over the atoms ``j`` of the image's type (the first on exact ties).

    With ``tolerance`` given, only the atoms that can lie within it are compared
    (:func:`_match_within`); where some image has none (the crystal then fails the
    tolerance anyway) the full comparison runs, so the result is the same either way.
    """
    if tolerance is not None:
        found = _match_within(images, frac, numbers, lattice, tolerance)
        if found is not None:
            return found
    g, n = images.shape[:2]
    perm = np.empty((g, n), dtype=np.int64)
    best_shift = np.empty((g, n, 3))
    best_dist = np.empty((g, n))
    other_type = numbers[:, None] != numbers[None, :]
    step = max(1, (1 << 21) // max(1, n * n))  # bound memory to ~50 MB per chunk
    for a in range(0, g, step):
        diff = images[a : a + step, :, None, :] - frac[None, None, :, :]  # (c, n, n, 3)
        shift = np.round(diff)
        dist = np.linalg.norm((diff - shift) @ lattice, axis=-1)
        dist[:, other_type] = np.inf
        p = np.argmin(dist, axis=-1)
        g_idx, n_idx = np.indices(p.shape)
        perm[a : a + step] = p
        best_shift[a : a + step] = shift[g_idx, n_idx, p]
        best_dist[a : a + step] = dist[g_idx, n_idx, p]
    return perm, best_shift, best_dist


def _match_within(
    images: np.ndarray, frac: np.ndarray, numbers: np.ndarray, lattice: np.ndarray,
    tolerance: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """:func:`_periodic_match` among the atoms that can lie within ``tolerance``.

    For an atom at mismatch ``D = |f @ lattice|`` (``f = d - round(d)``) every component
    obeys ``|f_k| <= D |b_k|`` (``b_k`` the reciprocal vectors, ``f_k = (f @ lattice) . b_k``).
    So only the same-type atoms with ``|f_k| <= tolerance |b_k|`` can be within
    ``tolerance``.  They are found by a binary search in the atoms' sorted (wrapped)
    coordinates along the most selective axis (a window a little wider than the bound),
    then the bound is tested on every axis with ``f`` computed as the full comparison
    computes it: ``O(g n log n)`` instead of ``O(g n^2)``.  The mismatch of the remaining
    candidates is computed as in the full comparison and the nearest taken (the first atom
    on exact ties).  Every atom left out is farther than ``tolerance``, so where each image
    has a candidate within ``tolerance`` the nearest candidate is the nearest atom.

    Returns:
        The match, or ``None`` when some image has no candidate within ``tolerance`` (or
        the bound reaches half the cell, where the full comparison is as cheap).
    """
    g, n = images.shape[:2]
    reach = tolerance * np.linalg.norm(np.linalg.inv(lattice), axis=0)  # tol * |b_k|
    bounds = reach * (1 + 1e-9) + 1e-12  # margin for the rounding of f
    k = int(np.argmin(reach))
    window = bounds[k] + 1e-9  # wider still: the wrapped coordinates round differently
    if not window < 0.45:  # a window under half the cell holds each atom at most once
        return None
    segs, atoms_j, shifts, fs = [], [], [], []
    flat = images.reshape(-1, 3).T  # (3, g * n): image g * n + i, one row per axis
    for z in np.unique(numbers):  # an image is matched within its own type only
        atoms = np.flatnonzero(numbers == z)
        m = atoms.shape[0]
        x = frac[atoms, k] - np.floor(frac[atoms, k])
        order = np.argsort(x, kind="stable")
        line = np.concatenate([x[order] - 1.0, x[order], x[order] + 1.0])  # sorted
        owner = np.tile(atoms[order], 3)
        y = images[:, atoms, k].reshape(-1)  # (g * m,) image c * m + i
        y = y - np.floor(y)
        lo = np.searchsorted(line, y - window, side="left")
        count = np.searchsorted(line, y + window, side="right") - lo
        image = np.repeat(np.arange(g * m), count)
        start = np.repeat(np.cumsum(count) - count, count)
        j = owner[lo[image] + np.arange(image.shape[0]) - start]
        c, i = np.divmod(image, m)
        seg = c * n + atoms[i]
        # f = d - round(d) as the full comparison computes it, one axis at a time; the
        # bound is necessary along every axis
        diff = flat[:, seg] - frac.T[:, j]  # (3, pairs)
        shift = np.round(diff)
        f = diff - shift
        keep = ((np.abs(f[0]) <= bounds[0]) & (np.abs(f[1]) <= bounds[1])
                & (np.abs(f[2]) <= bounds[2]))
        segs.append(seg[keep])
        atoms_j.append(j[keep])
        shifts.append(shift[:, keep].T)
        fs.append(f[:, keep].T)
    seg = np.concatenate(segs)  # image g * n + i
    if seg.size == 0:
        return None
    j = np.concatenate(atoms_j)
    shift = np.concatenate(shifts)
    dist = np.linalg.norm(np.concatenate(fs) @ lattice, axis=-1)
    # nearest candidate of each image: by image, then distance, then atom
    order = np.lexsort((j, dist, seg))
    first = np.ones(order.shape[0], dtype=bool)
    first[1:] = seg[order][1:] != seg[order][:-1]
    best = order[first]
    if best.shape[0] != g * n or not float(dist[best].max()) <= tolerance:
        return None
    return (j[best].reshape(g, n), shift[best].reshape(g, n, 3),
            dist[best].reshape(g, n))


def _measured_std_positions(
    dataset: Any, frac_reduced: np.ndarray, std_lattice: np.ndarray, group: SpaceGroup
) -> np.ndarray:
    """The input's own positions in spglib's standard cell, **before** idealization.

    spglib's ``std_positions`` are idealized from particular atoms, so for a structure
    that is symmetric only within the tolerance they depend on the order of the atoms
    (measured: 3 of 100 MP-20 crystals change by ~1e-4 when their atoms are permuted).
    Here every standard-cell atom ``k`` is instead placed at the measured position of the
    input atoms it stands for: ``P x_j + p`` plus the exact lattice translation (a
    centring vector plus an integer vector) closest to spglib's ``s_k - (P x_j + p)``,
    averaged over the input atoms ``j`` of the same primitive atom (one, or several for a
    supercell).  The exact symmetrization (:func:`symmetrize_frac_coords`) then starts
    from data that depend on the atom set only.
    """
    P = np.array(dataset.transformation_matrix, dtype=np.float64)
    p = np.array(dataset.origin_shift, dtype=np.float64)
    ideal = np.array(dataset.std_positions, dtype=np.float64)  # (m, 3)
    measured = frac_reduced @ P.T + p  # (n, 3)
    same = (np.asarray(dataset.std_mapping_to_primitive)[:, None]
            == np.asarray(dataset.mapping_to_primitive)[None, :])  # (m, n)
    identity = np.all(group.rotations == np.eye(3, dtype=group.rotations.dtype), axis=(1, 2))
    centring = group.translations[identity]  # (c, 3), includes 0
    delta = ideal[:, None, :] - measured[None, :, :]  # (m, n, 3)
    rest = delta[:, :, None, :] - centring[None, None, :, :]  # (m, n, c, 3)
    frac_err = rest - np.round(rest)
    err = np.linalg.norm(frac_err @ std_lattice, axis=-1)  # (m, n, c)
    best = np.argmin(err, axis=-1)  # (m, n)
    chosen = np.take_along_axis(rest, best[..., None, None], axis=2)[:, :, 0, :]
    exact = centring[best] + np.round(chosen)  # lattice translation, (m, n, 3)
    estimates = measured[None, :, :] + exact  # (m, n, 3), each close to ideal[k]
    weight = same.astype(np.float64)
    return np.einsum("mn,mnk->mk", weight, estimates) / weight.sum(axis=1, keepdims=True)


def _best_origin(residual: np.ndarray, group: SpaceGroup, lattice: np.ndarray) -> np.ndarray:
    """The origin shift ``t`` that best fits the operations to the atoms.

    With the atoms moved to ``y = x - t`` the mismatch of operation ``g`` on atom ``i``
    becomes ``r_gi - (W_g - I) t``; ``t`` minimizes its sum of squares in the Cartesian
    metric (minimum-norm solution: no shift along polar axes, where the origin is free).
    spglib places the origin from particular atoms, so for a structure that is symmetric
    only within the tolerance its origin depends on the order of the atoms; the fitted
    origin depends on the atom *set* only, which makes the symmetrized structure
    independent of the input order and description.
    """
    A = group.rotations.astype(np.float64) - np.eye(3)  # (g, 3, 3)
    G = lattice @ lattice.T
    mean = residual.mean(axis=1)  # (g, 3)
    lhs = np.einsum("gji,jk,gkl->il", A, G, A)
    rhs = np.einsum("gji,jk,gk->i", A, G, mean)
    return np.linalg.pinv(lhs, rcond=1e-10) @ rhs


def symmetrize_frac_coords(
    frac_coords: np.ndarray,
    numbers: np.ndarray,
    lattice: np.ndarray,
    group: SpaceGroup,
    tolerance: float,
) -> np.ndarray:
    """Project fractional coordinates onto exact symmetry of ``group`` (Reynolds average).

    For each operation ``g = (W, w)`` the image ``W x_i + w`` is matched to the nearest
    atom ``x_{p(i)}`` of the same type (up to a lattice vector ``L``); the atoms are first
    moved to the origin that fits the operations best (least squares, see
    :func:`_best_origin`; zero for an exactly symmetric input), then the symmetrized
    position is ``mean_g W^-1 (x_{p(i)} + L - w)``.  The result is exactly invariant under
    the group (to rounding) and does not depend on the order of the atoms.

    Args:
        frac_coords: ``(n, 3)`` fractional coordinates in the setting of ``group``.
        numbers: ``(n,)`` atomic numbers.
        lattice: ``(3, 3)`` lattice rows (Å), for Cartesian matching distances.
        group: the space group, in the setting of ``frac_coords``.
        tolerance: largest accepted Cartesian mismatch (Å) between an image and its atom.

    Returns:
        ``(n, 3)`` float64 symmetrized fractional coordinates (not wrapped).

    Raises:
        StructureError: (reason ``symmetry_failed``) if some operation does not map the
            atom set onto itself within ``tolerance``.
    """
    x = np.asarray(frac_coords, dtype=np.float64)
    images = group.apply(x)  # (g, n, 3)
    perm, shift, mismatch = _periodic_match(images, x, numbers, lattice, tolerance)
    worst = float(mismatch.max())
    bijective = bool(np.all(np.sort(perm, axis=1) == np.arange(perm.shape[1])))
    if worst > tolerance or not bijective:
        raise StructureError(
            f"symmetrization failed: an operation of {group!r} maps an atom {worst:.3g} Å away "
            f"from any atom of its type (tolerance {tolerance:.3g} Å, bijective={bijective})",
            "symmetry_failed",
        )
    x = x - _best_origin(images - (x[perm] + shift), group, lattice)
    W_inv = np.linalg.inv(group.rotations.astype(np.float64))  # (g, 3, 3)
    target = x[perm] + shift - group.translations[:, None, :]  # (g, n, 3)
    pre = np.einsum("gij,gnj->gni", W_inv, target)
    return pre.mean(axis=0)


def _symmetrize_lattice(measured: np.ndarray, group: SpaceGroup) -> tuple[np.ndarray, np.ndarray]:
    """The symmetric standard lattice of a measured one, and the frame rotation.

    ``measured`` holds the input's own lattice vectors in the standard basis (rows, in the
    input's Cartesian frame).  Its metric is averaged over the point group (for every
    crystal family the result is then invariant under the whole holohedry, so descriptions
    related by a lattice symmetry give the same metric), and the rows are rebuilt in the
    standard orientation: the Cholesky frame (``a`` along ``x``, ``b`` in the ``xy`` plane,
    right-handed), a function of the metric only.

    Returns:
        ``(lattice, R)``: the rows, and the orthogonal ``R`` (closest in the Procrustes sense)
        with ``lattice ~ measured @ R.T``; ``det R = -1`` for a left-handed input basis.
    """
    W = group.point_group_rotations.astype(np.float64)
    G = measured @ measured.T
    G_sym = np.einsum("gji,jk,gkl->il", W, G, W) / W.shape[0]
    G_sym = 0.5 * (G_sym + G_sym.T)
    chol = np.linalg.cholesky(G_sym)  # rows: a along x, b in the xy-plane (lower triangular)
    u, _, vt = np.linalg.svd(measured.T @ chol)
    return chol, (u @ vt).T


def _detect(lattice: np.ndarray, frac: np.ndarray, numbers: np.ndarray, f: Featurization
            ) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
    """spglib's dataset in the default setting of the detected group.

    Returns ``(dataset, P, p, frac_reduced)`` with ``x_std = P x + p`` for the input's own
    fractional coordinates ``x`` and the coordinates spglib saw (LLL-reduced basis).
    """
    # hand spglib an LLL-reduced basis of the same lattice (robust for skewed input
    # cells): rows L_red = U L with U unimodular, so fractional rows f_red = f U^-1
    reduced = _reduced_lattice(lattice)
    U = np.rint(reduced @ np.linalg.inv(lattice))
    U_inv = np.linalg.inv(U)
    cell = (reduced, _wrap(frac @ U_inv), numbers.astype(np.intc))
    dataset = _spglib_dataset(cell, f.symprec, f.angle_tolerance)
    number = int(dataset.number)
    hall = default_hall_number(number)
    if int(dataset.hall_number) != hall:
        dataset = _spglib_dataset(cell, f.symprec, f.angle_tolerance, hall_number=hall)
        if int(dataset.number) != number or int(dataset.hall_number) != hall:
            raise StructureError(
                f"spglib could not standardize group {number} to Hall setting {hall} "
                f"(got number {dataset.number}, Hall {dataset.hall_number})",
                "symmetry_failed",
            )
    # x_std = P x_red + p and x_red = U^-T x_in, so the input's P is P U^-T
    P = np.array(dataset.transformation_matrix, dtype=np.float64) @ U_inv.T
    p = np.array(dataset.origin_shift, dtype=np.float64)
    return dataset, P, p, cell[1]


def _standardize_pass(
    lattice: np.ndarray, frac: np.ndarray, numbers: np.ndarray, f: Featurization,
    detected: tuple[Any, np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One detection + symmetrization in the default setting of the detected group.

    Returns ``(number, lattice, frac, numbers, P, p, R)``: the symmetric crystal and the
    maps from the input (``x_std = P x + p``; ``R`` the Cartesian frame map).
    """
    dataset, P, p, frac_reduced = detected or _detect(lattice, frac, numbers, f)
    number = int(dataset.number)
    group = SpaceGroup(number)
    # the input's own lattice in the standard basis is P^-T L (spglib's std_lattice is
    # idealized from particular atoms and so, for a structure symmetric only within the
    # tolerance, depends on the description)
    std_lattice, R = _symmetrize_lattice(np.linalg.inv(P).T @ lattice, group)
    std_numbers = np.array(dataset.std_types, dtype=np.int64)
    std_frac = _measured_std_positions(dataset, frac_reduced, std_lattice, group)
    std_frac = symmetrize_frac_coords(
        std_frac, std_numbers, std_lattice, group, tolerance=f.symmetrization_tolerance
    )
    return number, std_lattice, std_frac, std_numbers, P, p, R


def _same_metric(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two lattices (rows) have the same metric, to 1e-9 relative."""
    Ga, Gb = a @ a.T, b @ b.T
    return bool(np.abs(Ga - Gb).max() <= 1e-9 * np.abs(Ga).max())


def _cell_key(lattice: np.ndarray) -> tuple[float, ...]:
    """Order of cells: shortest total edge length, then the metric entries (1e-6 Å²)."""
    G = lattice @ lattice.T
    return (round(float(np.sqrt(np.diag(G)).sum()), 6), *np.round(G.ravel(), 6).tolist())


_MAX_PASSES = 4
"""Re-standardizations allowed while the detected group or cell still changes (on exactly
symmetric input spglib's choice is stable, so one extra pass settles it in practice)."""


@dataclass(frozen=True)
class StandardizedCrystal:
    """A crystal in the standard conventional cell of ``SpaceGroup(number)``.

    Attributes:
        number: ITA space-group number.
        hall_number: spglib Hall number of the setting (``default_hall_number(number)``).
        lattice: ``(3, 3)`` float64 lattice rows (Å).
        frac_coords: ``(n, 3)`` float64 symmetrized fractional coordinates in ``[0, 1)``.
        numbers: ``(n,)`` int64 atomic numbers.
        transformation_matrix: ``(3, 3)`` float64 spglib ``P``: ``x_std = P x_in + p``.
        origin_shift: ``(3,)`` float64 spglib ``p``.
        std_rotation_matrix: ``(3, 3)`` float64 orthogonal map from the input Cartesian
            frame to the standardized one (a rotoinversion when ``mirrored``).
        mirrored: whether the standardized crystal is the input's mirror image (canonical
            handedness; ``number`` is then the mirror image's group type, e.g. 76 for an
            input detected as 78).
    """

    number: int
    hall_number: int
    lattice: np.ndarray
    frac_coords: np.ndarray
    numbers: np.ndarray
    transformation_matrix: np.ndarray
    origin_shift: np.ndarray
    std_rotation_matrix: np.ndarray
    mirrored: bool = False

    @property
    def space_group(self) -> SpaceGroup:
        """The :class:`SpaceGroup` whose operations leave this crystal invariant."""
        return SpaceGroup(self.number)


def _spglib_dataset(
    cell: tuple[np.ndarray, np.ndarray, np.ndarray],
    symprec: float,
    angle_tolerance: float,
    hall_number: int = 0,
) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            dataset = spglib.get_symmetry_dataset(
                cell, symprec=symprec, angle_tolerance=angle_tolerance, hall_number=hall_number
            )
    except Exception as exc:  # spglib >= 2.5 may raise SpglibError
        raise StructureError(f"spglib symmetry detection failed: {exc}", "symmetry_failed") from exc
    if dataset is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            message = spglib.get_error_message()
        raise StructureError(
            f"spglib symmetry detection failed ({message}) at symprec={symprec}", "symmetry_failed"
        )
    return dataset


def standardize(
    structure: Any,
    featurization: Featurization | None = None,
    *,
    expected_space_group: int | None = None,
    **options: Any,
) -> StandardizedCrystal:
    """Validate, detect the space group and standardize to the setting of ``SpaceGroup(n)``.

    Args:
        structure: pymatgen ``Structure``, ASE ``Atoms`` or ``(lattice, frac, numbers)``.
        featurization: the options (default :data:`~cft_pyg.data.DEFAULT_FEATURIZATION`);
            used here: ``symprec``, ``angle_tolerance``, ``min_distance``,
            ``canonical_origin``, ``canonical_handedness`` (see :class:`Featurization`).
        expected_space_group: if given, raise unless the detected number equals it (the
            number spglib detects for the input, before any mirror image is taken).
        **options: changes to ``featurization`` by name (e.g. ``symprec=0.01``).

    Returns:
        The :class:`StandardizedCrystal`.

    Raises:
        StructureError: bad input (see :func:`validate_cell`), symmetry detection
            failure, or disagreement with ``expected_space_group``.
        TypeError: an unknown option name.
    """
    f = Featurization.resolve(featurization, **options)
    lattice, frac, numbers = to_cell(structure)
    validate_cell(lattice, frac, numbers, min_distance=f.min_distance)
    state = _standardize_pass(lattice, frac, numbers, f)
    # the fixed point: symmetrizing can bring a crystal within the tolerance of a larger
    # group (measured on MP-20 at symprec 0.1: Pnnm -> P4_2/mnm), or settle a near-tie
    # between two cells of a distorted lattice, which a re-detection of the standardized
    # crystal would then show; standardize again until group and cell are stable, so that
    # standardizing the result (or any description of it) gives the result itself.  For a
    # few centred monoclinic cells spglib alternates between two cells of the exact
    # crystal; then the cell of the cycle with the smallest key is taken.
    states = [state]
    for _ in range(_MAX_PASSES):
        number, std_lattice, std_frac, std_numbers, P, p, R = state
        detected = _detect(std_lattice, _wrap(std_frac), std_numbers, f)
        if int(detected[0].number) == number and _same_metric(
                std_lattice, np.linalg.inv(detected[1]).T @ std_lattice):
            break
        n2, L2, x2, z2, P2, p2, R2 = _standardize_pass(
            std_lattice, _wrap(std_frac), std_numbers, f, detected)
        state = (n2, L2, x2, z2, P2 @ P, P2 @ p + p2, R2 @ R)
        seen = [k for k, old in enumerate(states) if old[0] == n2 and _same_metric(old[1], L2)]
        if seen:
            state = min(states[seen[0]:], key=lambda s: _cell_key(s[1]))
            break
        states.append(state)
    number, std_lattice, std_frac, std_numbers, P, p, R = state
    if expected_space_group is not None and number != int(expected_space_group):
        raise StructureError(
            f"detected space group {number} ({SpaceGroup(number).hermann_mauguin}) at "
            f"symprec={f.symprec} but {int(expected_space_group)} was expected",
            "space_group_mismatch",
        )
    return canonical_crystal(number, std_lattice, std_frac, std_numbers, P, p, R, f)


def canonical_crystal(number: int, lattice: np.ndarray, frac: np.ndarray, numbers: np.ndarray,
                      P: np.ndarray, p: np.ndarray, R: np.ndarray, f: Featurization
                      ) -> StandardizedCrystal:
    """A crystal described in the default setting of group ``number`` (``lattice``,
    ``frac``, ``numbers``; ``P``, ``p``, ``R`` the map from the input), taken to its
    canonical frame as ``f`` asks: the lower-numbered group of an enantiomorphic pair
    (``canonical_handedness``; x -> -x maps the default setting of a group onto its
    partner's, exactly) and the canonical origin (``canonical_origin``)."""
    group = SpaceGroup(number)
    if f.canonical_handedness and ENANTIOMORPHIC_PARTNER.get(number, number) < number:
        number = ENANTIOMORPHIC_PARTNER[number]
        group = SpaceGroup(number)
        frac, P, p, R = -frac, -P, -p, -R
    if f.canonical_origin:
        A, t = _canonical_origin(_wrap(frac), numbers, lattice, group,
                                 proper=not f.canonical_handedness)
        frac = frac @ A.T + t
        P, p = A @ P, A @ p + t
        R = lattice.T @ A @ np.linalg.inv(lattice.T) @ R
    return StandardizedCrystal(
        number=number,
        hall_number=default_hall_number(number),
        lattice=lattice,
        frac_coords=_wrap(frac),
        numbers=numbers,
        transformation_matrix=P,
        origin_shift=p,
        std_rotation_matrix=R,
        mirrored=bool(np.linalg.det(R) < 0),
    )


def std_to_input_frac(
    frac_std: np.ndarray, transformation_matrix: np.ndarray, origin_shift: np.ndarray
) -> np.ndarray:
    """Map standardized fractional coordinates back to the input cell's basis.

    Args:
        frac_std: ``(n, 3)`` fractional coordinates in the standardized cell.
        transformation_matrix: ``(3, 3)`` spglib ``P`` (``Data.transformation_matrix[0]``).
        origin_shift: ``(3,)`` spglib ``p`` (``Data.origin_shift[0]``).

    Returns:
        ``(n, 3)`` fractional coordinates ``x_in = P^-1 (x_std - p)`` (not wrapped).
    """
    P = np.asarray(transformation_matrix, dtype=np.float64).reshape(3, 3)
    p = np.asarray(origin_shift, dtype=np.float64).reshape(3)
    return np.linalg.solve(P, (np.asarray(frac_std, dtype=np.float64) - p).T).T
