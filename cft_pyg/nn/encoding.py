r"""One symmetry-adapted Fourier encoding layer for all 230 space groups.

For an atom at fractional position ``x`` in a crystal of space group ``G`` the standard
Fourier features are ``v_k(x) = exp(2 pi i k.x)`` for the frequencies ``k`` of the
group's frequency set.  The group acts on them by a unitary representation,
``v(W x + w) = D_g v(x)`` with ``(D_g v)_k = exp(2 pi i k.w) v_{W^T k}``, and the
orthogonal projection onto the invariant subspace is the Reynolds operator

.. math::

    (P_G v)_k = \frac{1}{|G|}\sum_{g \in G} (D_g v)_k
              = \frac{\overline{c_k}}{|O|}\, e_O(x), \qquad
    e_O(x) = \sum_{k' \in O} c_{k'}\, e^{2\pi i k'\cdot x},

for ``k`` in a consistent orbit ``O`` of the constraint graph (``c_k`` its propagated
phase), and ``0`` on systematically absent orbits.  ``P_G v(W x + w) = P_G v(x)``
exactly, for every operation.

**Routing as message passing.**  ``P_G v`` is computed in two sparse steps on the
precomputed constraint graphs instead of a dense ``N x N`` product:

1. *scatter*: frequency nodes send ``c_k v_k`` to their orbit node (scatter-add,
   :func:`torch_geometric.utils.scatter`), giving ``e_O`` for every orbit;
2. *gather*: every frequency node reads its orbit's ``e_O`` back with the phase
   ``conj(c_k) / |O|``.

This costs ``O(N)`` per atom instead of ``O(N^2)``.  The tables of all 230 groups are
stacked in buffers (``.to(device)`` moves them); a batch mixing any groups is processed
group by group, each group's atoms in one vectorized pass (no loop over crystals or atoms).

**One index space for all 230 groups.**  Frequencies are ordered by their length in the
group's reference metric (identity metric, or the hexagonal reference cell
``a = b = 1, gamma = 120 deg`` for groups 143-194).  Output slot ``i`` holds the ``i``-th
shortest frequency of the group's reference ball: the same ``k`` for all 178
non-hexagonal groups, and the frequency of the same rank (same spatial resolution) for
the 52 hexagonal-family groups, whose ball is smaller (418 vs 514 at ``R = 5``); their
extra slots are zero.  One module and one downstream weight set serve all groups.

**Outputs.**

* ``output="frequency"`` (default): ``out_dim = 2 S`` real features, ``S`` = number of
  slots; interleaved ``[Re P v_0, Im P v_0, Re P v_1, Im P v_1, ...]``.
* ``output="orbit"``: the compact real orthonormal basis of
  :class:`cft_pyg.SymmetryAdaptedBasis` (one function per consistent orbit), zero-padded
  to ``out_dim = S``.  Slot ``j`` is the group's ``j``-th function (ordered by frequency),
  so this index space is only shared in the sense of resolution, not of frequency.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter

from ..symmetry.basis import SymmetryAdaptedBasis, check_frac_coords
from ..symmetry.frequencies import DEFAULT_CUTOFF, ball_frequencies
from ..symmetry.space_group import HEXAGONAL_FAMILY_NUMBERS, NUM_SPACE_GROUPS

__all__ = [
    "is_hexagonal_family",
    "PlainFourierFeatures",
    "SymmetryAdaptedFourierEncoding",
    "check_space_group_index",
    "load_group_bases",
]

OutputMode = Literal["frequency", "orbit"]
Strategy = Literal["auto", "grouped", "gathered"]
GATHERED_MAX_ELEMENTS = 1 << 22
"""``strategy="auto"`` routes batches with ``n_atoms * S`` up to this size gathered (about
8,000 atoms at ``R = 5``; measured crossover with the grouped path between 5,000 and 10,000
atoms on one CPU thread), larger ones grouped, but only on one thread: with gradients flowing
to the coordinates, or with several threads, it always routes gathered (23,000 atoms: 2.4x
the plain features against 24x grouped with gradients; at 2 threads on a loaded machine 2.5x
against 31x, the many small per-group kernels waiting on each other;
``benchmarks/results/encoding_targets.json``)."""
_TWO_PI = 2.0 * math.pi


def is_hexagonal_family(space_group: Tensor) -> Tensor:
    """``(n,)`` bool: which space-group numbers belong to the trigonal/hexagonal family
    (:data:`~cft_pyg.symmetry.HEXAGONAL_FAMILY_NUMBERS`, whose frequencies live in the
    hexagonal reference metric)."""
    first, last = HEXAGONAL_FAMILY_NUMBERS[0], HEXAGONAL_FAMILY_NUMBERS[-1]
    return (space_group >= first) & (space_group <= last)


def load_group_bases(cutoff: float, progress: bool = False) -> list[SymmetryAdaptedBasis]:
    """The bases of all 230 groups (default settings) at ``cutoff``, from the disk cache."""
    try:
        from ..symmetry.cache import load_bases
    except ImportError:  # cache module not available: build in memory
        return [SymmetryAdaptedBasis(n, cutoff) for n in range(1, NUM_SPACE_GROUPS + 1)]
    return load_bases(cutoff, progress=progress)


def check_space_group_index(space_group: Tensor, num_atoms: int) -> Tensor:
    """Validate a per-atom ``(n,)`` integer tensor of space-group numbers in 1..230."""
    if not isinstance(space_group, Tensor):
        raise ValueError(f"space_group must be a torch.Tensor, got {type(space_group).__name__}")
    if space_group.dtype.is_floating_point or space_group.dtype.is_complex or (
        space_group.dtype == torch.bool
    ):
        raise ValueError(f"space_group must be an integer tensor, got {space_group.dtype}")
    if space_group.ndim != 1:
        raise ValueError(f"space_group must have shape (n_atoms,), got {tuple(space_group.shape)}")
    if space_group.shape[0] != num_atoms:
        raise ValueError(
            f"space_group has {space_group.shape[0]} entries but frac_coords has {num_atoms} "
            "atoms; pass one space-group number per atom (e.g. batch.space_group[batch.batch])"
        )
    if num_atoms and (int(space_group.min()) < 1 or int(space_group.max()) > NUM_SPACE_GROUPS):
        bad = space_group[(space_group < 1) | (space_group > NUM_SPACE_GROUPS)][0]
        raise ValueError(f"space-group numbers must be in 1..230, got {int(bad)}")
    return space_group.long()


def _group_slices(space_group: Tensor) -> tuple[list[int], list[Tensor], Tensor | None]:
    """Atoms grouped by space group: (groups, atom indices per group, inverse permutation)."""
    groups, counts = torch.unique(space_group, return_counts=True)
    if groups.numel() == 1:
        everything = torch.arange(space_group.numel(), device=space_group.device)
        return [int(groups[0])], [everything], None
    perm = torch.argsort(space_group, stable=True)
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(perm.numel(), device=perm.device)
    return groups.tolist(), list(torch.split(perm, counts.tolist())), inverse


def _augmented(x: Tensor) -> Tensor:
    """``[x - floor(x), 1]``: coordinates reduced to the cell plus a column for phases."""
    x = x - torch.floor(x)
    return torch.cat([x, x.new_ones(x.shape[0], 1)], dim=1)


def _cos_turns(x_aug: Tensor, table: Tensor) -> Tensor:
    """``cos(2 pi (x.k + phase))`` for every row ``[k, phase]`` of ``table``.

    The argument is reduced to one turn before the cosine, so float32 keeps ~1e-7
    absolute accuracy whatever the frequency.  (In-place reductions are safe for
    autograd: the matmul's backward does not need its output.)
    """
    turns = x_aug @ table.T
    return torch.cos(turns.frac_().mul_(_TWO_PI))


class _SlotTables:
    """Numpy tables of one group for the stacked buffers (internal)."""

    def __init__(self, basis: SymmetryAdaptedBasis, num_slots: int) -> None:
        routing = basis.routing
        present = np.nonzero(routing.orbit >= 0)[0]
        k = routing.freq[present].astype(np.float64)
        phase = routing.phase_12[present].astype(np.float64) / 12.0
        # interleaved rows [k, phi] -> cos, [k, phi - 1/4] -> sin
        table = np.empty((2 * present.size, 4))
        table[0::2, :3] = k
        table[0::2, 3] = phase
        table[1::2, :3] = k
        table[1::2, 3] = phase - 0.25
        self.cos_table = table
        self.node_orbit = routing.orbit[present]
        self.num_orbits = routing.num_orbits
        # gather-back: conj(c_k)/|O| takes few distinct values per group; pre-rotate the
        # orbit sums by each distinct (phase, orbit) pair once, then gather per slot.
        pairs = np.stack([routing.phase_12[present], routing.orbit[present]], axis=1)
        uniq, pair_index = np.unique(pairs, axis=0, return_inverse=True)
        angle = -_TWO_PI * uniq[:, 0] / 12.0
        scale = 1.0 / routing.orbit_size[uniq[:, 1]]
        self.rot_orbit = uniq[:, 1]
        self.rot_coef = np.stack([np.cos(angle) * scale, np.sin(angle) * scale], axis=1)
        gather = np.full(num_slots, uniq.shape[0], dtype=np.int64)  # absent: zero column
        gather[present] = pair_index.reshape(-1)
        self.slot_gather = gather
        # per-slot tables of the gathered path (slot = frequency index; absent slots point
        # to a dummy orbit after the group's orbits and get zero coefficients)
        self.slot_phase = np.zeros(num_slots)
        self.slot_phase[present] = phase
        self.slot_orbit = np.full(num_slots, -1, dtype=np.int64)
        self.slot_orbit[present] = routing.orbit[present]
        self.slot_coef = np.zeros((num_slots, 2))
        self.slot_coef[present] = self.rot_coef[pair_index.reshape(-1)]
        # compact orbit basis: f_j = u_j Re e_O + v_j Im e_O
        fun = basis.entry_function.numpy()
        first = np.unique(fun, return_index=True)[1]
        node = basis.frequencies.index_of(basis.entry_freq.long().numpy()[first])
        a = basis.entry_weight.numpy()[first]
        turns = basis.entry_phase_24.numpy()[first] / 24.0 - routing.phase_12[node] / 12.0
        # u - i v = a exp(2 pi i turns)
        self.fun_orbit = routing.orbit[node]
        self.fun_coef = np.stack([a * np.cos(_TWO_PI * turns), -a * np.sin(_TWO_PI * turns)], 1)
        self.slot_fun_orbit = np.full(num_slots, -1, dtype=np.int64)
        self.slot_fun_orbit[: self.fun_orbit.size] = self.fun_orbit
        self.slot_fun_coef = np.zeros((num_slots, 2))
        self.slot_fun_coef[: self.fun_orbit.size] = self.fun_coef


class _UnitPhasor(torch.autograd.Function):
    r"""``exp(i angle)`` as a complex tensor, with a real-arithmetic backward.

    Forward writes ``cos`` and ``sin`` straight into the interleaved ``(..., 2)`` layout of
    the complex result; backward is
    :math:`\partial L/\partial\theta = \operatorname{Im} G \cos\theta - \operatorname{Re} G
    \sin\theta` for the incoming complex gradient :math:`G` (about half the work of
    ``torch.polar``'s backward, which also differentiates the modulus).  The backward reads
    the saved *output*, so autograd differentiates it again: second derivatives (a loss on
    forces) are exact too.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, angle: Tensor) -> Tensor:
        waves = angle.new_empty(*angle.shape, 2)
        torch.cos(angle, out=waves[..., 0])
        torch.sin(angle, out=waves[..., 1])
        out = torch.view_as_complex(waves)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> Tensor:
        (out,) = ctx.saved_tensors
        w, g = torch.view_as_real(out), torch.view_as_real(grad.resolve_conj())
        return g[..., 1] * w[..., 0] - g[..., 0] * w[..., 1]


def _stack(arrays: list[np.ndarray], dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    ptr = np.concatenate([[0], np.cumsum([a.shape[0] for a in arrays])])
    return torch.from_numpy(np.concatenate(arrays)).to(dtype), torch.from_numpy(ptr)


class SymmetryAdaptedFourierEncoding(nn.Module):
    r"""Exactly space-group-invariant Fourier encoding of atomic positions.

    .. math::

        \mathrm{enc}(x, G) = P_G\, v(x), \qquad v_k(x) = e^{2\pi i k\cdot x},

    computed by scatter-add routing through the orbits of ``G``'s constraint graph (see
    the module docstring).  ``enc(W x + w, G) = enc(x, G)`` for every operation of ``G``.

    Args:
        cutoff: frequency ball radius ``R`` in each group's reference metric (default 5:
            514 slots; 8: 2109 slots).
        output: ``"frequency"`` (``2 S`` real features in the shared frequency slots) or
            ``"orbit"`` (the compact real orthonormal basis, zero-padded to ``S``).
        bases: precomputed :class:`~cft_pyg.SymmetryAdaptedBasis` of groups 1..230 in
            default settings (default: loaded from the disk cache).
        strategy: how a mixed batch is routed (same result to rounding):
            ``"grouped"`` runs one vectorized pass per space group present, sharing each
            group's tables by broadcasting (best for large batches);
            ``"gathered"`` runs one pass over the whole batch with each atom's row of the
            stacked ``(230, S)`` phase/orbit tables gathered and one flat scatter over
            ``(atom, orbit)`` pairs (no Python loop at all: best for the small batches of
            training); ``"auto"`` picks ``grouped`` only for batches with
            ``n_atoms * S > 2**22`` on one CPU thread without gradients to the coordinates,
            ``gathered`` otherwise (see :data:`GATHERED_MAX_ELEMENTS`).  First and second
            derivatives in the coordinates work on every path.

    Shapes:
        - frac_coords: ``(n_atoms, 3)`` float32/float64, fractional coordinates of each
          atom in its crystal's standard setting (``cft_pyg.SpaceGroup(n)``).
        - space_group: ``(n_atoms,)`` integer, each atom's space-group number.
        - output: ``(n_atoms, out_dim)``, dtype and device of ``frac_coords``.

    Example:
        >>> import torch
        >>> from cft_pyg import SpaceGroup
        >>> from cft_pyg.nn import SymmetryAdaptedFourierEncoding
        >>> enc = SymmetryAdaptedFourierEncoding(cutoff=5)   # one layer for all 230 groups
        >>> x = torch.rand(10, 3, dtype=torch.float64)
        >>> groups = torch.full((10,), 227)
        >>> enc(x, groups).shape
        torch.Size([10, 1028])
        >>> G = SpaceGroup(227)                              # any operation x -> W x + w
        >>> W = torch.tensor(G.rotations[5], dtype=torch.float64)
        >>> w = torch.tensor(G.translations_12[5] / 12)
        >>> torch.allclose(enc(x @ W.T + w, groups), enc(x, groups), atol=1e-10)
        True
    """

    def __init__(
        self,
        cutoff: float = DEFAULT_CUTOFF,
        output: OutputMode = "frequency",
        *,
        bases: list[SymmetryAdaptedBasis] | None = None,
        strategy: Strategy = "auto",
    ) -> None:
        super().__init__()
        if output not in ("frequency", "orbit"):
            raise ValueError(f"output must be 'frequency' or 'orbit', got {output!r}")
        if strategy not in ("auto", "grouped", "gathered"):
            raise ValueError(f"strategy must be 'auto', 'grouped' or 'gathered', got {strategy!r}")
        self.strategy = strategy
        if bases is None:
            bases = load_group_bases(cutoff)
        if len(bases) != NUM_SPACE_GROUPS or any(
            b.group.number != n + 1 or b.frequencies.cutoff != cutoff for n, b in enumerate(bases)
        ):
            raise ValueError(f"bases must hold groups 1..230 in order at cutoff {cutoff}")
        self.cutoff = float(cutoff)
        self.output = output
        self.num_slots = max(len(b.frequencies) for b in bases)
        tables = [_SlotTables(b, self.num_slots) for b in bases]
        self.num_orbits = [t.num_orbits for t in tables]
        self.num_functions = [b.num_functions for b in bases]
        for name, dtype in (
            ("cos_table", torch.float64),
            ("node_orbit", torch.long),
            ("rot_orbit", torch.long),
            ("rot_coef", torch.float64),
            ("fun_orbit", torch.long),
            ("fun_coef", torch.float64),
        ):
            values, ptr = _stack([getattr(t, name) for t in tables], dtype)
            self.register_buffer(name, values, persistent=False)
            self.register_buffer(f"{name}_ptr", ptr, persistent=False)
        self.register_buffer(
            "slot_gather", torch.from_numpy(np.stack([t.slot_gather for t in tables])),
            persistent=False,
        )
        # gathered path: row g-1 of each table belongs to group g; absent slots (and the
        # padding of the orbit output) point to a dummy orbit M_g after the group's M_g
        # orbits, so every atom owns M_g + 1 consecutive entries of one flat orbit-sum array
        self.max_orbits = max(self.num_orbits)
        dummy = np.asarray(self.num_orbits)[:, None]
        for name in ("slot_phase", "slot_orbit", "slot_coef", "slot_fun_orbit", "slot_fun_coef"):
            table = np.stack([getattr(t, name) for t in tables])
            if "orbit" in name:
                table = np.where(table < 0, dummy, table)
            self.register_buffer(name, torch.from_numpy(table), persistent=False)
        self.register_buffer("orbit_width", torch.tensor(self.num_orbits) + 1, persistent=False)
        # slot frequencies of both metrics stacked as one (6, S) matrix: an atom's
        # coordinates enter as [x, 0] (identity metric) or [0, x] (hexagonal), so one matmul
        # serves a batch that mixes both families
        slot_freq = np.zeros((2, self.num_slots, 3))
        hexagonal = np.zeros(NUM_SPACE_GROUPS, dtype=bool)
        for b in bases:
            row = int(b.frequencies.metric == "hexagonal")
            hexagonal[b.group.number - 1] = bool(row)
            slot_freq[row, : len(b.frequencies)] = b.frequencies.freq
        slot_freq = slot_freq.transpose(0, 2, 1).reshape(6, self.num_slots)
        self.register_buffer("slot_freq", torch.from_numpy(slot_freq), persistent=False)
        self.register_buffer("group_is_hexagonal", torch.from_numpy(hexagonal), persistent=False)
        self._ptr_cache: dict[str, list[int]] = {}
        self._dtype_cache: dict[tuple[torch.dtype, torch.device], dict[str, Tensor]] = {}

    _EXACT_TABLES = (
        "cos_table", "rot_coef", "fun_coef", "slot_phase", "slot_coef", "slot_fun_coef",
        "slot_freq",
    )

    def _apply(self, fn, recurse: bool = True):  # type: ignore[override]
        # Casting the model (model.float(), .half()) must not round the phase tables:
        # they stay float64 and are cast per call to the input's dtype.
        saved = {name: self._buffers[name] for name in self._EXACT_TABLES}
        self._dtype_cache = {}
        super()._apply(fn, recurse)
        for name, table in saved.items():
            moved = self._buffers[name]
            if moved is not None and moved.dtype != table.dtype:
                self._buffers[name] = table.to(moved.device)
        return self

    @property
    def out_dim(self) -> int:
        """Number of output features per atom (same for every group)."""
        return 2 * self.num_slots if self.output == "frequency" else self.num_slots

    def extra_repr(self) -> str:
        return f"cutoff={self.cutoff}, output={self.output!r}, out_dim={self.out_dim}"

    def _slice(self, name: str, group: int, dtype: torch.dtype | None = None) -> Tensor:
        ptr = self._ptr_cache.get(name)
        if ptr is None:
            ptr = getattr(self, f"{name}_ptr").tolist()
            self._ptr_cache[name] = ptr
        values = getattr(self, name)[ptr[group - 1] : ptr[group]]
        return values if dtype is None else values.to(dtype)

    def orbit_sums(self, frac_coords: Tensor, group: int) -> Tensor:
        r"""``e_O(x)`` of every consistent orbit of one group, as ``(n, M, 2)`` (Re, Im).

        The scatter step of the routing: ``e_O = sum_{k in O} c_k exp(2 pi i k.x)``.
        """
        x_aug = _augmented(frac_coords)
        waves = _cos_turns(x_aug, self._slice("cos_table", group, x_aug.dtype))
        waves = waves.view(x_aug.shape[0], -1, 2)
        return scatter(
            waves, self._slice("node_orbit", group), dim=1,
            dim_size=self.num_orbits[group - 1], reduce="sum",
        )

    def _encode_group(self, frac_coords: Tensor, group: int) -> Tensor:
        """Encoding ``(n, out_dim)`` of atoms that all belong to ``group``."""
        sums = self.orbit_sums(frac_coords, group)
        n = sums.shape[0]
        if self.output == "orbit":
            coef = self._slice("fun_coef", group, sums.dtype)
            picked = sums.index_select(1, self._slice("fun_orbit", group))
            values = (picked * coef).sum(-1)
            return torch.cat([values, values.new_zeros(n, self.num_slots - values.shape[1])], 1)
        # gather step: conj(c_k)/|O| * e_O, pre-rotated once per distinct (phase, orbit)
        coef = torch.view_as_complex(self._slice("rot_coef", group, sums.dtype).contiguous())
        picked = torch.view_as_complex(sums.index_select(1, self._slice("rot_orbit", group)))
        rotated = torch.view_as_real(torch.cat([picked * coef, picked.new_zeros(n, 1)], dim=1))
        return rotated.index_select(1, self.slot_gather[group - 1]).reshape(n, -1)

    def _gathered_tables(self, dtype: torch.dtype) -> dict[str, Tensor]:
        """The float tables of the gathered path in ``dtype`` (cast once and cached; the
        float64 masters stay exact, see :meth:`_apply`)."""
        key = (dtype, self.slot_phase.device)
        tables = self._dtype_cache.get(key)
        if tables is None:
            tables = {name: getattr(self, name).to(dtype).contiguous() for name in
                      ("slot_phase", "slot_coef", "slot_fun_coef", "slot_freq")}
            tables["slot_coef_complex"] = torch.view_as_complex(tables["slot_coef"])
            self._dtype_cache[key] = tables
        return tables

    def _encode_gathered(self, x: Tensor, groups: Tensor) -> Tensor:
        """All atoms in one pass: per-atom table rows, one flat scatter over (atom, orbit).

        A fixed sequence of dense kernels whatever the groups in the batch (one matmul with
        the phases added in, row gathers with ``index_select``, cos/sin, one ``index_add_``
        and one ``index_select`` over the flattened ``(atom, slot)`` pairs): no Python loop,
        the path a GPU runs (one host synchronization: the length of the orbit-sum array).
        Atom ``a`` of group ``g`` owns ``M_g + 1`` consecutive orbit sums (its orbits and a
        dummy that collects absent slots), so the scatter target is as small as the orbits.
        """
        n, S = x.shape[0], self.num_slots
        tables = self._gathered_tables(x.dtype)
        row = groups - 1
        x_red = x - torch.floor(x)
        hexagonal = self.group_is_hexagonal.index_select(0, row).to(x.dtype)[:, None]
        x_both = torch.cat([x_red * (1.0 - hexagonal), x_red * hexagonal], dim=1)
        turns = torch.addmm(tables["slot_phase"].index_select(0, row), x_both,
                            tables["slot_freq"])
        # reduce to one turn before the transcendental: float32 keeps ~1e-7 absolute accuracy
        angle = turns.frac_().mul_(_TWO_PI)
        waves = _UnitPhasor.apply(angle).view(n * S)  # e^{2 pi i (k.x + phase)}
        width = self.orbit_width.index_select(0, row)
        offset = (torch.cumsum(width, 0) - width)[:, None]
        total = int(offset[-1, 0] + width[-1])
        flat = (self.slot_orbit.index_select(0, row) + offset).view(-1)
        sums = waves.new_zeros(total).index_add_(0, flat, waves)  # e_O of every atom
        if self.output == "orbit":
            pick = (self.slot_fun_orbit.index_select(0, row) + offset).view(-1)
            coef = tables["slot_fun_coef"].index_select(0, row).view(n * S, 2)
            picked = torch.view_as_real(sums.index_select(0, pick))
            return (picked * coef).sum(-1).view(n, S)
        coef = tables["slot_coef_complex"].index_select(0, row).view(n * S)
        return torch.view_as_real(sums.index_select(0, flat) * coef).reshape(n, 2 * S)

    def forward(self, frac_coords: Tensor, space_group: Tensor) -> Tensor:
        x = check_frac_coords(frac_coords)
        groups = check_space_group_index(space_group, x.shape[0]).to(x.device)
        out = x.new_zeros(x.shape[0], self.out_dim)
        if x.shape[0] == 0:
            return out
        strategy = self.strategy
        if strategy == "auto":
            grad = x.requires_grad and torch.is_grad_enabled()
            small = x.shape[0] * self.num_slots <= GATHERED_MAX_ELEMENTS
            one_thread = x.device.type == "cpu" and torch.get_num_threads() == 1
            strategy = "grouped" if not (grad or small) and one_thread else "gathered"
        if strategy == "gathered":
            return self._encode_gathered(x, groups)
        group_ids, atom_index, inverse = _group_slices(groups)
        if inverse is None:
            return self._encode_group(x, group_ids[0])
        for group, rows in zip(group_ids, atom_index):
            out.index_copy_(0, rows, self._encode_group(x[rows], group))
        return out


class PlainFourierFeatures(nn.Module):
    r"""Standard (not invariant) Fourier features in the same slots as the encoding.

    ``[cos 2 pi k_0.x, sin 2 pi k_0.x, cos 2 pi k_1.x, ...]`` with the frequencies of each
    atom's reference ball (identity metric, or hexagonal for groups 143-194; hexagonal
    atoms have zeros in the slots beyond their ball).  The ablation baseline of the
    Crystal Fourier Transformer and the cost reference of the benchmarks.

    Args:
        cutoff: frequency ball radius (same meaning as for the invariant encoding).

    Shapes:
        - frac_coords ``(n, 3)``, space_group ``(n,)`` -> ``(n, 2 S)``.
    """

    def __init__(self, cutoff: float = DEFAULT_CUTOFF) -> None:
        super().__init__()
        self.cutoff = float(cutoff)
        sets = [ball_frequencies(cutoff, m) for m in ("identity", "hexagonal")]
        self.num_slots = max(len(s) for s in sets)
        for name, fset in zip(("identity_table", "hexagonal_table"), sets):
            table = np.zeros((2 * len(fset), 4))
            table[0::2, :3] = fset.freq
            table[1::2, :3] = fset.freq
            table[1::2, 3] = -0.25
            self.register_buffer(name, torch.from_numpy(table), persistent=False)

    @property
    def out_dim(self) -> int:
        return 2 * self.num_slots

    def extra_repr(self) -> str:
        return f"cutoff={self.cutoff}, out_dim={self.out_dim}"

    def _features(self, x: Tensor, table: Tensor) -> Tensor:
        values = _cos_turns(_augmented(x), table.to(x.dtype))
        pad = values.new_zeros(x.shape[0], self.out_dim - values.shape[1])
        return torch.cat([values, pad], dim=1) if pad.shape[1] else values

    def forward(self, frac_coords: Tensor, space_group: Tensor) -> Tensor:
        x = check_frac_coords(frac_coords)
        groups = check_space_group_index(space_group, x.shape[0]).to(x.device)
        hexagonal = is_hexagonal_family(groups)
        n_hex = int(hexagonal.sum())
        if n_hex == 0:
            return self._features(x, self.identity_table)
        if n_hex == x.shape[0]:
            return self._features(x, self.hexagonal_table)
        out = x.new_empty(x.shape[0], self.out_dim)
        out[~hexagonal] = self._features(x[~hexagonal], self.identity_table)
        out[hexagonal] = self._features(x[hexagonal], self.hexagonal_table)
        return out
