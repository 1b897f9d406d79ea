r"""The published paper's Table 1 and Table 3 tested in the published architecture.

The published CFT is a Transformer whose only geometry is the positional encoding
(:class:`~cft_pyg.nn.PublishedCFT`, ``cft-published``, published sizes).  Its Table 1 orders
the encodings (symmetry-adapted PE < plain PE), its Table 3 credits pretraining of the
encoder.  Here each claim is trained at equal epochs, several seeds, same protocol as the
ablation (:mod:`studies.kit.equal_epochs`: cosine schedule, test MAE at the best
validation epoch), with the catalog's ``published`` models:

========================  ===========================================================
``published``             symmetry-adapted encoding (the CFT)
``published-plain``       plain Fourier features (the paper's "Transformer, plain PE")
``published-none``        no positional encoding (a bag of atoms with the lattice)
``published-pretrained``  the CFT started from the shipped pretrained encoder
                          (:func:`cft_pyg.pretrained.available_encodings`)
========================  ===========================================================

Claims: ``published`` beats ``published-plain`` by more than 2 std and ``published-none``
on every target (Table 1), ``published-pretrained`` beats ``published`` (Table 3).  Targets
and sizes as the ablation (Carbon-24 all of it; MP-20 ``n_train_mp20`` training crystals).
Writes ``<output>/published.json``; run ``python -m studies.published --help``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from cft_pyg.training.presets import setting

from .kit.catalog import TARGETS, models_for
from .kit.claims import Claim
from .kit.equal_epochs import EqualEpochsSettings, make_study, print_summary
from .kit.study import study_main

__all__ = ["PublishedSettings", "STUDY", "main", "run"]


@dataclass
class PublishedSettings(EqualEpochsSettings):
    """Settings of the published-architecture study (the ablation's protocol)."""

    study_name: ClassVar[str] = "published"

    models: tuple[str, ...] | None = setting(
        None, "variants (catalog names; default: the catalog's published models)")

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "full": {},
        "quick": {**EqualEpochsSettings.PRESETS["quick"], "targets": tuple(TARGETS)[:2]},
    }

    def variants(self, target: str) -> tuple[str, ...]:
        """The variants trained on ``target`` (the same on every target)."""
        return tuple(self.models or models_for("published", self.quick))

    def claims(self) -> list[Claim]:
        """Table 1 (symmetry-adapted < plain by 2 std, < none) and Table 3 (pretrained <
        not) per target, among the variants that run."""
        wanted = [("published", "published-plain", "two_std"),
                  ("published", "published-none", "mean"),
                  ("published-pretrained", "published", "mean")]
        out = []
        for t in self.targets:
            vs = self.variants(t)
            out += [Claim(a, b, t, criterion=c) for a, b, c in wanted if a in vs and b in vs]
            out += [Claim("published", v, t, criterion="mean") for v in vs
                    if v not in {"published", *(w[1] for w in wanted), *(w[0] for w in wanted)}]
        return out


STUDY = make_study("published")


def run(settings: PublishedSettings, *, resume: bool = False, echo: Any = print
        ) -> dict[str, Any]:
    """Run every job of ``settings`` (``resume``: only those the log lacks) and write
    ``published.json``."""
    from .kit.study import run_study

    return run_study(STUDY, settings, resume=resume, echo=echo)


def main(argv: list[str] | None = None) -> int:
    return study_main(STUDY, PublishedSettings, argv, __doc__.split("\n\n")[0],
                      print_summary)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
