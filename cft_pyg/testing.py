"""Reusable invariance checks (in the spirit of e3nn's ``assert_equivariant``).

Every layer and model of cft-pyg that claims space-group invariance is tested with
:func:`assert_invariant`: it applies **every** operation of the group to the input
fractional coordinates and compares the outputs.

Tolerances (the project's stated ones):

* float64: absolute ``1e-10``;
* float32: relative ``1e-5`` of the largest output magnitude (absolute floor ``1e-6``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .symmetry.space_group import SpaceGroup

__all__ = [
    "assert_batch_invariant",
    "assert_invariant",
    "batch_invariance_error",
    "default_tolerance",
    "invariance_error",
]


def default_tolerance(dtype: torch.dtype) -> tuple[float, float]:
    """``(atol, rtol)`` used by :func:`assert_invariant` for a dtype."""
    if dtype == torch.float64:
        return 1e-10, 0.0
    return 1e-6, 1e-5


def _images(group: SpaceGroup, x: torch.Tensor, wrap: bool) -> torch.Tensor:
    W = torch.as_tensor(group.rotations.copy(), dtype=x.dtype, device=x.device)
    w = torch.as_tensor(group.translations, dtype=x.dtype, device=x.device)
    imgs = torch.einsum("gij,nj->gni", W, x) + w[:, None, :]
    if wrap:
        imgs = imgs - torch.floor(imgs)
    return imgs


def invariance_error(
    fn: Callable[[torch.Tensor], torch.Tensor],
    frac_coords: torch.Tensor,
    group: SpaceGroup | int,
    *,
    wrap: bool = False,
) -> tuple[float, float]:
    """Largest deviation ``max_g |fn(W_g x + w_g) - fn(x)|`` over all operations.

    Args:
        fn: maps ``(n, 3)`` fractional coordinates to a tensor (any shape).
        frac_coords: ``(n, 3)`` coordinates in the group's setting.
        group: the group (or its number, default setting).
        wrap: also reduce the images into ``[0, 1)``.

    Returns:
        ``(max_abs_error, max_abs_reference)``.
    """
    if not isinstance(group, SpaceGroup):
        group = SpaceGroup(group)
    with torch.no_grad():
        ref = fn(frac_coords)
        worst = 0.0
        for image in _images(group, frac_coords, wrap):
            worst = max(worst, float((fn(image) - ref).abs().max()))
    return worst, float(ref.abs().max())


def assert_invariant(
    fn: Callable[[torch.Tensor], torch.Tensor],
    frac_coords: torch.Tensor,
    group: SpaceGroup | int,
    *,
    atol: float | None = None,
    rtol: float | None = None,
    wrap: bool = False,
) -> float:
    """Assert ``fn(W x + w) == fn(x)`` for every operation of ``group``.

    Tolerances default to :func:`default_tolerance` of ``frac_coords.dtype``; the check
    passes when ``error <= atol + rtol * max|fn(x)|``.

    Returns:
        The maximum absolute error found.

    Raises:
        AssertionError: naming the group, the error and the tolerance.
    """
    if not isinstance(group, SpaceGroup):
        group = SpaceGroup(group)
    d_atol, d_rtol = default_tolerance(frac_coords.dtype)
    atol = d_atol if atol is None else atol
    rtol = d_rtol if rtol is None else rtol
    err, scale = invariance_error(fn, frac_coords, group, wrap=wrap)
    bound = atol + rtol * scale
    if not err <= bound:
        raise AssertionError(
            f"not invariant under {group!r}: max error {err:.3e} > tolerance {bound:.3e} "
            f"(atol={atol:g}, rtol={rtol:g}, scale={scale:.3e})"
        )
    return err


def _as_groups(space_group) -> list[SpaceGroup]:
    if isinstance(space_group, torch.Tensor):
        space_group = space_group.reshape(-1).tolist()
    return [g if isinstance(g, SpaceGroup) else SpaceGroup(int(g)) for g in space_group]


def batch_invariance_error(
    fn: Callable[[torch.Tensor], torch.Tensor],
    frac_coords: torch.Tensor,
    batch: torch.Tensor,
    space_group: torch.Tensor | list[SpaceGroup | int],
    *,
    wrap: bool = False,
) -> tuple[float, float]:
    """:func:`invariance_error` for a batch of crystals, each with its own group.

    Call ``j`` (``j = 0 .. max_b |G_b| - 1``) applies operation ``j mod |G_b|`` of crystal
    ``b``'s group to the atoms of crystal ``b``, for all crystals at once, so every
    operation of every crystal's group is applied in ``max_b |G_b|`` calls of ``fn``.

    Args:
        fn: maps the ``(N, 3)`` fractional coordinates of all atoms of the batch to a
            tensor (e.g. one prediction per crystal).
        frac_coords: ``(N, 3)`` coordinates, each crystal in its group's setting.
        batch: ``(N,)`` crystal index of each atom.
        space_group: ``(B,)`` group numbers (or groups) of the crystals.
        wrap: also reduce the images into ``[0, 1)``.

    Returns:
        ``(max_abs_error, max_abs_reference)``.
    """
    groups = _as_groups(space_group)
    ops = [
        (
            torch.as_tensor(g.rotations.copy(), dtype=frac_coords.dtype, device=frac_coords.device),
            torch.as_tensor(g.translations, dtype=frac_coords.dtype, device=frac_coords.device),
        )
        for g in groups
    ]
    batch = batch.to(frac_coords.device)
    with torch.no_grad():
        ref = fn(frac_coords)
        worst = 0.0
        for j in range(max(g.num_operations for g in groups)):
            W = torch.stack([rot[j % len(rot)] for rot, _ in ops])[batch]
            w = torch.stack([tr[j % len(tr)] for _, tr in ops])[batch]
            image = torch.einsum("nij,nj->ni", W, frac_coords) + w
            if wrap:
                image = image - torch.floor(image)
            worst = max(worst, float((fn(image) - ref).abs().max()))
    return worst, float(ref.abs().max())


def assert_batch_invariant(
    fn: Callable[[torch.Tensor], torch.Tensor],
    frac_coords: torch.Tensor,
    batch: torch.Tensor,
    space_group: torch.Tensor | list[SpaceGroup | int],
    *,
    atol: float | None = None,
    rtol: float | None = None,
    wrap: bool = False,
) -> float:
    """:func:`assert_invariant` for a batch of crystals (see :func:`batch_invariance_error`).

    Returns:
        The maximum absolute error found.

    Raises:
        AssertionError: naming the groups, the error and the tolerance.
    """
    d_atol, d_rtol = default_tolerance(frac_coords.dtype)
    atol = d_atol if atol is None else atol
    rtol = d_rtol if rtol is None else rtol
    err, scale = batch_invariance_error(fn, frac_coords, batch, space_group, wrap=wrap)
    bound = atol + rtol * scale
    if not err <= bound:
        names = ", ".join(str(g.number) for g in _as_groups(space_group))
        raise AssertionError(
            f"not invariant under the groups of the batch ({names}): max error {err:.3e} > "
            f"tolerance {bound:.3e} (atol={atol:g}, rtol={rtol:g}, scale={scale:.3e})"
        )
    return err
