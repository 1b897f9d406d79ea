"""Orbit-size and basis-size summaries across the 230 space groups."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..symmetry import SymmetryAdaptedBasis, load_bases
from ..symmetry.frequencies import DEFAULT_CUTOFF

__all__ = ["SYSTEM_COLORS", "group_summary", "plot_basis_sizes", "plot_orbit_sizes"]

SYSTEM_COLORS = {
    "triclinic": "#7f7f7f", "monoclinic": "#1f77b4", "orthorhombic": "#2ca02c",
    "tetragonal": "#d62728", "trigonal": "#9467bd", "hexagonal": "#8c564b", "cubic": "#ff7f0e",
}
"""Colour of each crystal system in the summary plots."""


def group_summary(cutoff: float = DEFAULT_CUTOFF, *,
                  bases: list[SymmetryAdaptedBasis] | None = None,
                  progress: bool = False) -> pd.DataFrame:
    """One row per space group: sizes of its frequency set, orbits and basis at ``cutoff``.

    Args:
        cutoff: frequency-ball radius.
        bases: the 230 bases (default: :func:`cft_pyg.load_bases`, from the disk cache).
        progress: progress bar while the cache is built.

    Returns:
        Columns ``number``, ``symbol``, ``crystal_system``, ``has_inversion``,
        ``num_operations``, ``point_group_order``, ``num_frequencies``, ``num_absent``
        (systematically absent frequencies), ``num_orbits`` (consistent orbits),
        ``num_functions`` (real basis functions; equal to ``num_orbits``),
        ``mean_orbit_size``, ``max_orbit_size``.
    """
    if bases is None:
        bases = load_bases(cutoff, progress=progress)
    rows = []
    for b in bases:
        g, r = b.group, b.routing
        sizes = np.asarray(r.orbit_size)
        rows.append({
            "number": g.number, "symbol": g.hermann_mauguin, "crystal_system": g.crystal_system,
            "has_inversion": g.has_inversion, "num_operations": g.num_operations,
            "point_group_order": g.point_group_order, "num_frequencies": len(r.freq),
            "num_absent": int((np.asarray(r.orbit) < 0).sum()), "num_orbits": r.num_orbits,
            "num_functions": int(b.num_functions),
            "mean_orbit_size": float(sizes.mean()) if sizes.size else 0.0,
            "max_orbit_size": int(sizes.max()) if sizes.size else 0,
        })
    return pd.DataFrame(rows)


def _colors(summary: pd.DataFrame) -> list[str]:
    return [SYSTEM_COLORS[s] for s in summary["crystal_system"]]


def _system_legend(ax: plt.Axes) -> None:
    handles = [plt.Line2D([], [], marker="s", ls="", color=c, label=s)
               for s, c in SYSTEM_COLORS.items()]
    ax.legend(handles=handles, fontsize=7, ncol=2)


def plot_basis_sizes(summary: pd.DataFrame, *, log: bool = True) -> Figure:
    """Number of invariant basis functions (consistent orbits) of every group.

    Args:
        summary: :func:`group_summary`.
        log: logarithmic y axis.

    Returns:
        The figure: one bar per group (patches with gid ``'basis_bars'``), coloured by
        crystal system, and the number of absent frequencies per group on a second panel
        (gid ``'absent_bars'``).
    """
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(11, 6), sharex=True,
                                  gridspec_kw={"height_ratios": [2, 1]})
    bars = ax.bar(summary["number"], summary["num_functions"], color=_colors(summary), width=1.0)
    for patch in bars:
        patch.set_gid("basis_bars")
    if log:
        ax.set_yscale("log")
    ax.set_ylabel("basis functions")
    r = "" if not len(summary) else f" (P1: {int(summary['num_frequencies'].iloc[0])} freq.)"
    ax.set_title(f"Size of the symmetry-adapted basis per space group{r}")
    _system_legend(ax)
    absent = ax2.bar(summary["number"], summary["num_absent"], color=_colors(summary), width=1.0)
    for patch in absent:
        patch.set_gid("absent_bars")
    ax2.set_ylabel("absent freq.")
    ax2.set_xlabel("space group (ITA number)")
    fig.tight_layout()
    return fig


def plot_orbit_sizes(summary: pd.DataFrame) -> Figure:
    """Mean and largest orbit size of every group against its number of operations.

    Left: mean orbit size (dots, gid ``'mean_orbit'``) and largest orbit (crosses, gid
    ``'max_orbit'``) per group number.  Right: mean orbit size against the point-group
    order (the largest orbit a frequency can have).

    Returns:
        The figure.
    """
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
    c = _colors(summary)
    m = ax.scatter(summary["number"], summary["mean_orbit_size"], c=c, s=14)
    m.set_gid("mean_orbit")
    x = ax.scatter(summary["number"], summary["max_orbit_size"], c=c, marker="x", s=14)
    x.set_gid("max_orbit")
    ax.set_yscale("log", base=2)
    ax.set_xlabel("space group (ITA number)")
    ax.set_ylabel("orbit size (dots: mean, x: max)")
    _system_legend(ax)
    ax2.scatter(summary["point_group_order"], summary["mean_orbit_size"], c=c, s=14)
    lim = [1, max(48, int(summary["point_group_order"].max()) if len(summary) else 48)]
    ax2.plot(lim, lim, "k--", lw=0.8, label="orbit size = |point group|")
    ax2.set_xscale("log", base=2)
    ax2.set_yscale("log", base=2)
    ax2.set_xlabel("point-group order")
    ax2.set_ylabel("mean orbit size")
    ax2.legend(fontsize=7)
    fig.suptitle("Orbits of the frequency ball across the 230 space groups")
    fig.tight_layout()
    return fig
