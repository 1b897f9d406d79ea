r"""The real symmetry-adapted Fourier basis of a space group.

Every consistent orbit ``O`` of the constraint graph gives one complex invariant function

.. math::

    e_O(x) = \sum_{k \in O} c_k \exp(2\pi i\, k\cdot x),
    \qquad c_{W^T k} = \exp(2\pi i\, k\cdot w)\, c_k,\; c_{\mathrm{root}} = 1 .

Its complex conjugate lives on the orbit ``-O``.  The real basis takes

* ``sqrt(2/|O|) Re e_O`` and ``sqrt(2/|O|) Im e_O`` once for each pair ``O != -O``, and
* ``|O|^{-1/2} alpha e_O`` for a self-conjugate orbit ``O = -O``, where the unit
  ``alpha`` makes it real (``alpha^2 = conj(c_{-root})``),

so the number of real functions equals the number of consistent orbits and the basis
is orthonormal for the mean over the unit cell.  Every function is stored in one
uniform sparse form,

.. math::

    f_j(x) = \sum_{(j, k, \varphi, a)} a \cos\!\big(2\pi (k\cdot x + \varphi / 24)\big),

with exact integer phases ``phi`` (24ths of a turn) and weights ``a``.  For P1 this is
``sqrt(2) cos(2 pi k.x)`` and ``sqrt(2) sin(2 pi k.x)`` for one of each pair ``+-k``: the
standard real Fourier basis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .constraint_graph import constraint_graph, group_frequencies, resolve_group
from .frequencies import FrequencySet
from .space_group import SpaceGroup

__all__ = ["SymmetryAdaptedBasis", "OrbitRouting", "check_frac_coords", "routing_from_graph"]


def check_frac_coords(frac_coords: torch.Tensor, name: str = "frac_coords") -> torch.Tensor:
    """Validate an ``(n, 3)`` real floating tensor of finite fractional coordinates."""
    if not isinstance(frac_coords, torch.Tensor):
        frac_coords = torch.as_tensor(np.asarray(frac_coords, dtype=np.float64))
    if frac_coords.ndim != 2 or frac_coords.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (n, 3), got {tuple(frac_coords.shape)}")
    if not frac_coords.is_floating_point():
        raise ValueError(f"{name} must be float32 or float64, got {frac_coords.dtype}")
    if not bool(torch.isfinite(frac_coords).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return frac_coords


@dataclass(frozen=True)
class OrbitRouting:
    """Sparse routing between a group's frequency nodes and its consistent orbits.

    Index ``i`` runs over the frequency set (``freq[i]``); ``orbit[i]`` is ``-1`` for
    absent frequencies, else the index (``0 .. num_orbits-1``) of its consistent orbit.

    Attributes:
        freq: ``(N, 3)`` int64 frequencies of the group's set.
        orbit: ``(N,)`` int64 consistent-orbit index, ``-1`` where absent.
        phase_12: ``(N,)`` int64, ``c_k = exp(2 pi i phase_12 / 12)``.
        orbit_size: ``(num_orbits,)`` int64 number of frequencies of each orbit.
        conjugate_orbit: ``(num_orbits,)`` int64 index of ``-O``.
    """

    freq: np.ndarray
    orbit: np.ndarray
    phase_12: np.ndarray
    orbit_size: np.ndarray
    conjugate_orbit: np.ndarray

    @property
    def num_orbits(self) -> int:
        return int(self.orbit_size.shape[0])

    @property
    def coefficients(self) -> np.ndarray:
        """``(N,)`` complex128 ``c_k`` (0 on absent frequencies)."""
        c = np.exp(2j * np.pi * self.phase_12 / 12.0)
        return np.where(self.orbit >= 0, c, 0.0)


def _orbit_roots(orbit: np.ndarray) -> np.ndarray:
    """First node of every consistent orbit (``orbit`` is -1 on absent nodes)."""
    idx = np.nonzero(orbit >= 0)[0]
    first = np.unique(orbit[idx], return_index=True)[1]
    return idx[first]


def routing_from_graph(graph, frequencies: FrequencySet) -> OrbitRouting:
    """Extract the :class:`OrbitRouting` of a constraint graph built on ``frequencies``."""
    freq = graph.freq.numpy()
    orbit_all = graph.orbit.numpy()
    absent = graph.absent.numpy()
    phase_12 = graph.phase_12.numpy()
    # renumber consistent orbits 0..M-1 in order of their first node
    consistent_ids = np.unique(orbit_all[~absent])
    remap = np.full(int(graph.num_orbits), -1, dtype=np.int64)
    remap[consistent_ids] = np.arange(consistent_ids.size)
    orbit = np.where(absent, -1, remap[orbit_all])
    orbit_size = np.bincount(orbit[orbit >= 0], minlength=consistent_ids.size)
    # orbit of -k: negation maps orbits to orbits (the ball is symmetric under -1)
    neg_root = frequencies.index_of(-freq[_orbit_roots(orbit)])
    if np.any(neg_root < 0):
        raise ValueError("frequency set must be closed under k -> -k")
    conjugate_orbit = orbit[neg_root]
    return OrbitRouting(
        freq=freq,
        orbit=orbit,
        phase_12=np.where(orbit >= 0, phase_12, 0),
        orbit_size=orbit_size,
        conjugate_orbit=conjugate_orbit,
    )


def _real_basis_entries(
    routing: OrbitRouting, frequencies: FrequencySet
) -> tuple[np.ndarray, ...]:
    """Sparse real basis ``(function, node, phase_24, weight)`` from an orbit routing."""
    orbit, p12 = routing.orbit, routing.phase_12
    size, conj = routing.orbit_size, routing.conjugate_orbit
    num_orbits = routing.num_orbits
    own = np.arange(num_orbits)
    self_conj = conj == own
    # each pair {O, -O} is handled by its smaller orbit, giving two functions (Re, Im)
    owner = self_conj | (own < conj)
    n_fun = np.where(self_conj, 1, 2) * owner
    first_fun = np.concatenate([[0], np.cumsum(n_fun)[:-1]])
    # phase of -root inside a self-conjugate orbit
    neg_root_phase = p12[frequencies.index_of(-routing.freq[_orbit_roots(orbit)])]

    fun, node, ph24, weight = [], [], [], []
    nodes = np.nonzero(orbit >= 0)[0]
    o = orbit[nodes]
    # self-conjugate orbits: one real function, phase 2 p_k - p_{-root}
    m = self_conj[o]
    fun.append(first_fun[o[m]])
    node.append(nodes[m])
    ph24.append((2 * p12[nodes[m]] - neg_root_phase[o[m]]) % 24)
    weight.append(1.0 / np.sqrt(size[o[m]]))
    # owners of a conjugate pair: Re (cos, phase 2p) and Im (sin = cos shifted by -6/24)
    m = (~self_conj[o]) & owner[o]
    for shift, extra in ((0, 0), (-6, 1)):
        fun.append(first_fun[o[m]] + extra)
        node.append(nodes[m])
        ph24.append((2 * p12[nodes[m]] + shift) % 24)
        weight.append(np.sqrt(2.0 / size[o[m]]))
    fun_a = np.concatenate(fun).astype(np.int64)
    order = np.lexsort((np.concatenate(node), fun_a))
    return (
        fun_a[order],
        np.concatenate(node).astype(np.int64)[order],
        np.concatenate(ph24).astype(np.int64)[order],
        np.concatenate(weight).astype(np.float64)[order],
        int(n_fun.sum()),
    )


class SymmetryAdaptedBasis(torch.nn.Module):
    r"""Real, orthonormal basis of the ``G``-invariant periodic functions up to a cutoff.

    ``basis(frac_coords)`` evaluates all ``num_functions`` functions at fractional
    coordinates given in the group's setting:

    .. math::

        f_j(x) = \sum_{(j,k,\varphi,a)} a\,\cos\big(2\pi(k\cdot x + \varphi/24)\big),
        \qquad f_j(Wx + w) = f_j(x)\ \ \forall (W, w) \in G .

    ``num_functions`` equals the number of consistent orbits of the constraint graph
    (the character formula), e.g. 514 for P1, 129 for P2_1/c and 7 for Fd-3m at ``R=5``.

    Args:
        group: a :class:`SpaceGroup` or a number 1-230 (default setting).
        cutoff: ball radius in the group's reference metric (default 5).
        frequencies: an explicit frequency set closed under the point group instead.

    Shapes:
        - input: ``(n, 3)`` float32/float64 fractional coordinates, any device.
        - output: ``(n, num_functions)``, same dtype and device.
    """

    def __init__(
        self,
        group: SpaceGroup | int,
        cutoff: float | None = None,
        *,
        frequencies: FrequencySet | None = None,
    ) -> None:
        super().__init__()
        self.group = resolve_group(group)
        fset = group_frequencies(self.group, cutoff, frequencies)
        # cutoff=None: the set already carries it (constraint_graph's default 5.0 would clash)
        graph = constraint_graph(self.group, None, frequencies=fset)
        routing = routing_from_graph(graph, fset)
        self._init_from_routing(routing, fset)

    @classmethod
    def from_routing(
        cls, group: SpaceGroup, routing: OrbitRouting, frequencies: FrequencySet
    ) -> SymmetryAdaptedBasis:
        """Rebuild a basis from a precomputed (e.g. cached) routing."""
        obj = cls.__new__(cls)
        torch.nn.Module.__init__(obj)
        obj.group = group
        obj._init_from_routing(routing, frequencies)
        return obj

    def _init_from_routing(self, routing: OrbitRouting, fset: FrequencySet) -> None:
        self.routing = routing
        self.frequencies = fset
        fun, node, ph24, weight, n_fun = _real_basis_entries(routing, fset)
        self.num_functions = n_fun
        self.register_buffer("entry_function", torch.from_numpy(fun), persistent=False)
        self.register_buffer(
            "entry_freq", torch.from_numpy(routing.freq[node]).to(torch.float64), persistent=False
        )
        self.register_buffer("entry_phase_24", torch.from_numpy(ph24), persistent=False)
        self.register_buffer("entry_weight", torch.from_numpy(weight), persistent=False)

    @property
    def num_orbits(self) -> int:
        return self.routing.num_orbits

    def extra_repr(self) -> str:
        return (
            f"group={self.group.number} ({self.group.hermann_mauguin}), "
            f"N={len(self.frequencies)}, num_functions={self.num_functions}"
        )

    def forward(self, frac_coords: torch.Tensor) -> torch.Tensor:
        x = check_frac_coords(frac_coords)
        dtype = x.dtype
        k = self.entry_freq.to(device=x.device, dtype=dtype)
        phase = self.entry_phase_24.to(device=x.device, dtype=dtype) / 24.0
        weight = self.entry_weight.to(device=x.device, dtype=dtype)
        # reduce x mod 1 first: exact invariance does not depend on it, accuracy does
        x = x - torch.floor(x)
        arg = x @ k.T + phase  # (n, E) in turns
        arg = arg - torch.round(arg)
        values = torch.cos((2 * torch.pi) * arg) * weight
        out = x.new_zeros(x.shape[0], self.num_functions)
        out.index_add_(1, self.entry_function.to(x.device), values)
        return out

    def coefficient_matrix(self) -> torch.Tensor:
        """``(num_functions, N)`` complex128 ``B``: ``f_j(x) = Re sum_k B_jk exp(2 pi i k.x)``."""
        angle = (2 * np.pi / 24.0) * self.entry_phase_24.double()
        values = torch.polar(self.entry_weight, angle)
        node = torch.from_numpy(self.frequencies.index_of(self.entry_freq.long().numpy()))
        mat = torch.zeros(self.num_functions, len(self.frequencies), dtype=torch.complex128)
        mat.index_put_((self.entry_function, node), values, accumulate=True)
        return mat
