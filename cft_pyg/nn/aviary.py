r"""Adapter around the ``aviary`` package's Wrenformer: a coordinate-free Wyckoff baseline.

Wrenformer (Goodall et al., Sci. Adv. 8, eabn4117, 2022 for Wren; the Transformer version of
aviary, arXiv:2308.14920) reads a crystal only through its **protostructure label**: an
AFLOW-style prototype label (Pearson symbol, space group, the Wyckoff letters each element
occupies) and the chemical system, e.g. ``'ABC_hP6_194_c_d_a:Bi-K-Zn'``.  No distance, cell or
free coordinate enters, so two candidates on the same Wyckoff positions of the same group are
the same input.  Install it with ``pip install -c constraints.txt "cft-pyg[aviary]"``
(``aviary-models==1.2.1``; it runs with the constrained torch).

Why Wrenformer and not Wren: both ship in ``aviary``; Wren's message passing over Wyckoff
sites needs its own collate (``aviary.wren.data.collate_batch``: self-fea indices, neighbour
indices, crystal indices), whereas Wrenformer's input is one padded tensor per batch with a
mask, which the adapter builds from aviary's own feature function in a few lines; Wrenformer
is also the model aviary maintains as the current one (used in Matbench Discovery).

The featurization is aviary's own, computed once per crystal:

1. :class:`AddProtostructure` (a transform) stores the label on the crystal as
   ``data.protostructure``, from the crystal's spglib symmetry by
   :func:`pymatgen.analysis.prototypes.get_protostructure_label_from_spglib`.  That function
   *is* aviary's: ``aviary.wren.utils`` moved it to pymatgen (``aviary.wren.utils`` now only
   raises an ImportError pointing there), and ``aviary.wren.data`` imports its tables from
   the same pymatgen module.  A crystal without the label (e.g. read by ``cft-pyg train``,
   which applies no transform) gets it from the same function, once per crystal (kept in a
   :class:`~cft_pyg.nn.structures.CrystalCache`).
2. The model turns each label into aviary's input tensor with
   :func:`aviary.wrenformer.data.wyckoff_embedding_from_protostructure_label` (site
   multiplicity ratio, Matscholar element embedding, the Wyckoff-position embedding
   ``bra-alg-off``; one row per Wyckoff site, one set per equivalent relabelling of the
   Wyckoff letters), memoized per label, and pads a batch as
   :func:`aviary.wrenformer.data.collate_batch` does.

What differs from aviary's own training (``aviary.train.train_model`` with
``df_to_in_mem_dataloader``): the library's engine trains it (its target normalization and
loss, AdamW with warm-up and a cosine or time-budget schedule, its batch size, validation and
best-moment selection), not aviary's loop (its ``Normalizer``, optional robust L1 loss with
an aleatoric-uncertainty output, its optimizer and epochs); ``robust`` is off (one output, no
uncertainty); one target.  The architecture, its defaults and the features are aviary's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch_geometric.data import Batch, Data

from .structures import CrystalCache, structures_of

__all__ = ["AddProtostructure", "Wrenformer", "aviary_available", "protostructure_label"]

_EXTRA = 'pip install -c constraints.txt "cft-pyg[aviary]"'


def aviary_available() -> bool:
    """Whether the optional ``aviary`` package (``aviary-models``) imports."""
    try:
        import aviary.wrenformer.data
        import aviary.wrenformer.model  # noqa: F401
    except Exception:  # pragma: no cover - depends on the environment
        return False
    return True


def _import_aviary() -> Any:
    try:
        import aviary.wrenformer.data
        import aviary.wrenformer.model
    except ImportError as err:
        raise ImportError("the Wrenformer model of cft_pyg.nn needs the optional `aviary-models` "
                          f"package: {_EXTRA}") from err
    return aviary


def protostructure_label(structure: Any, symprec: float = 0.1) -> str:
    """aviary's protostructure label of a :class:`pymatgen.core.Structure` (spglib symmetry).

    Args:
        structure: the crystal.
        symprec: spglib tolerance (Å) of the first attempt; pymatgen retries on the refined
            structure at ``1e-5`` when the first attempt fails, as aviary did.

    Returns:
        ``'<aflow label>:<chemical system>'``, e.g. ``'AB_cF8_225_a_b:Cl-Na'``.

    Raises:
        ValueError: no valid label (symmetry detection failed).
    """
    from pymatgen.analysis.prototypes import get_protostructure_label_from_spglib

    return get_protostructure_label_from_spglib(structure, raise_errors=True,
                                                init_symprec=symprec)


class AddProtostructure:
    """Transform: store aviary's protostructure label as ``data.protostructure`` (a string,
    batched by PyG into a list), so that the symmetry analysis runs once per crystal.

    Args:
        symprec: spglib tolerance of :func:`protostructure_label`.
    """

    def __init__(self, symprec: float = 0.1) -> None:
        self.symprec = float(symprec)

    def __call__(self, data: Data) -> Data:
        data = data.clone()
        data.protostructure = protostructure_label(structures_of(data)[0], self.symprec)
        return data

    def __repr__(self) -> str:
        return f"AddProtostructure(symprec={self.symprec})"


class _Memo:
    """Label -> aviary feature tensor, shared by copies of a model (a cache, not state)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.store: dict[str, torch.Tensor] = {}

    def __deepcopy__(self, memo: dict) -> _Memo:
        return self


class Wrenformer(nn.Module):
    r"""aviary's Wrenformer as a property model of this library; see the module docs.

    A linear map of each Wyckoff site's features (multiplicity ratio, element, Wyckoff
    position) to ``d_model``, ``n_attn_layers`` self-attention layers over the sites, a mean
    over the equivalent relabellings of the Wyckoff letters, an aggregation over sites
    (``embedding_aggregations``), aviary's residual trunk and output networks.  Defaults are
    aviary's (``d_model=128``, 6 layers, 4 heads, trunk ``(1024, 512)``, output
    ``(256, 128, 64)``).

    Args:
        d_model: width of the attention layers.
        n_attn_layers: self-attention layers.
        n_attn_heads: attention heads.
        dropout: dropout of the attention layers.
        trunk_hidden: hidden widths of aviary's residual trunk.
        out_hidden: widths of the output network (its first entry is the trunk's output).
        embedding_aggregations: aggregations over sites, of ``'mean'``, ``'std'``,
            ``'sum'``, ``'min'``, ``'max'``.
        symprec: spglib tolerance for crystals that carry no ``protostructure`` label.
        cache_size: labels (and crystals without one) kept (0: recompute every time).

    Shapes:
        - input: a batch of crystals with ``protostructure`` (a label per crystal, from
          :class:`AddProtostructure`) or ``z``, ``pos`` and ``cell``.
        - output: ``(num_graphs,)``.

    Raises:
        ImportError: if the optional ``aviary-models`` package is not installed.
    """

    def __init__(self, d_model: int = 128, n_attn_layers: int = 6, n_attn_heads: int = 4,
                 dropout: float = 0.0, trunk_hidden: Sequence[int] = (1024, 512),
                 out_hidden: Sequence[int] = (256, 128, 64),
                 embedding_aggregations: Sequence[str] = ("mean",), symprec: float = 0.1,
                 cache_size: int = 20000) -> None:
        super().__init__()
        aviary = _import_aviary()
        data = aviary.wrenformer.data
        n_features = 1 + len(next(iter(data.elem_features.values()))) + \
            len(next(iter(next(iter(data.sym_features.values())).values())))
        self.n_features = n_features
        self.symprec = float(symprec)
        self.model = aviary.wrenformer.model.Wrenformer(
            robust=False, n_targets=[1], n_features=n_features, d_model=d_model,
            n_attn_layers=n_attn_layers, n_attn_heads=n_attn_heads, dropout=dropout,
            trunk_hidden=list(trunk_hidden), out_hidden=list(out_hidden),
            embedding_aggregations=list(embedding_aggregations),
            task_dict={"target": "regression"})
        self._featurize = data.wyckoff_embedding_from_protostructure_label
        self._labels = CrystalCache(lambda s: protostructure_label(s, self.symprec), cache_size)
        self._memo = _Memo(cache_size)

    def num_parameters(self, trainable_only: bool = True) -> int:
        """Number of (trainable) parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def labels(self, data: Data | Batch) -> list[str]:
        """The protostructure label of each crystal of ``data`` (stored, or computed)."""
        stored = getattr(data, "protostructure", None)
        if stored is not None:
            out = [stored] if isinstance(stored, str) else list(stored)
            if len(out) != data.num_graphs:
                raise ValueError(f"{len(out)} protostructure labels for {data.num_graphs} "
                                 "crystals")
            return out
        return list(self._labels(data))

    def features(self, label: str) -> torch.Tensor:
        """aviary's input of one label: ``(n_equivalent_sets, n_sites, n_features)``."""
        store = self._memo.store
        out = store.get(label)
        if out is None:
            out = self._featurize(label)
            if self._memo.size:
                if len(store) >= self._memo.size:
                    store.pop(next(iter(store)))
                store[label] = out
        return out

    def aviary_inputs(self, data: Data | Batch) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """Padded features, padding mask and equivalent-set counts of a batch, as aviary's
        :func:`~aviary.wrenformer.data.collate_batch` makes them."""
        feats = [self.features(label) for label in self.labels(data)]
        counts = [len(f) for f in feats]
        sets = [s for f in feats for s in f]
        dtype = self.model.resize_embedding.weight.dtype
        device = self.model.resize_embedding.weight.device
        padded = nn.utils.rnn.pad_sequence(sets, batch_first=True).to(device=device,
                                                                       dtype=dtype)
        mask = (padded == 0).all(dim=2)
        return padded, mask, counts

    @property
    def feature_dim(self) -> int:
        """Width of :meth:`crystal_features` (the output of aviary's trunk)."""
        return int(self.model.model_params["out_hidden"][0])

    def crystal_features(self, data: Data | Batch) -> torch.Tensor:
        """``(num_graphs, feature_dim)``: aviary's trunk output (after its ReLU), the input
        of its output network; the steps of ``aviary.wrenformer.model.Wrenformer.forward``
        up to there."""
        from aviary.core import AGGREGATORS

        padded, mask, counts = self.aviary_inputs(data)
        m = self.model
        embeddings = m.transformer_encoder(m.resize_embedding(padded),
                                           src_key_padding_mask=mask)
        # the mean over the equivalent Wyckoff sets of each crystal
        embeddings = torch.stack([t.mean(dim=0) for t in embeddings.split(counts, dim=0)])
        mask = torch.stack([t[0] for t in mask.split(counts, dim=0)])
        inv_mask = ~mask[..., None]
        pooled = torch.cat([AGGREGATORS[key](embeddings, inv_mask, 1)
                            for key in m.embedding_aggregations], dim=1)
        return torch.relu(m.trunk_nn(pooled))

    def forward(self, data: Data | Batch) -> torch.Tensor:
        """``(num_graphs,)`` predictions (aviary's output network on
        :meth:`crystal_features`)."""
        return self.model.output_nns[0](self.crystal_features(data)).reshape(-1)
