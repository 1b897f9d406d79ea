"""Figures of cft-pyg (matplotlib; work under the non-interactive ``Agg`` backend).

Every plotting function returns the :class:`matplotlib.figure.Figure` it drew (it never calls
``plt.show`` and never changes the backend), so figures can be saved, shown inline in
notebooks or inspected in tests.

* :mod:`~cft_pyg.viz.graphs` - a group's constraint graph: 3D scatter, 2D slice, networkx view;
  systematic absences against gemmi.
* :mod:`~cft_pyg.viz.summary` - orbit and basis sizes across the 230 groups.
* :mod:`~cft_pyg.viz.basis` - symmetry-adapted basis functions on a slice of the unit cell.
* :mod:`~cft_pyg.viz.distance` - orbit distance and encoding distance of random point pairs.
* :mod:`~cft_pyg.viz.results` - parity plots, MAE tables, few-shot and learning
  curves of experiments; :func:`save_figure`.
"""

from .basis import basis_on_slice, plot_basis_functions
from .distance import (
    encoding_orbit_distances,
    plot_encoding_vs_orbit_distance,
)
from .graphs import (
    absences_vs_gemmi,
    constraint_graph_networkx,
    largest_orbit_colors,
    orbit_colors,
    plot_constraint_graph_3d,
    plot_constraint_graph_networkx,
    plot_constraint_graph_slice,
)
from .results import (
    plot_few_shot,
    plot_learning_curves,
    plot_mae_by_crystal_system,
    plot_mae_by_space_group,
    plot_parity,
    save_figure,
)
from .summary import group_summary, plot_basis_sizes, plot_orbit_sizes

__all__ = [
    "absences_vs_gemmi",
    "basis_on_slice",
    "constraint_graph_networkx",
    "encoding_orbit_distances",
    "group_summary",
    "largest_orbit_colors",
    "orbit_colors",
    "plot_basis_functions",
    "plot_basis_sizes",
    "plot_constraint_graph_3d",
    "plot_constraint_graph_networkx",
    "plot_constraint_graph_slice",
    "plot_encoding_vs_orbit_distance",
    "plot_few_shot",
    "plot_learning_curves",
    "plot_mae_by_crystal_system",
    "plot_mae_by_space_group",
    "plot_orbit_sizes",
    "plot_parity",
    "save_figure",
]
