r"""What each part of the CFT is worth: its variants and CGCNN at equal epochs.

Every (target, variant, seed) trains for a fixed number of epochs (cosine schedule to zero,
so the validation MAE plateaus at the end; the curve is recorded) and is evaluated on the
test split at its best validation epoch. The variants are the catalog's ablation models
(:func:`studies.kit.catalog.models_for`), by default:

=========================  ============================================================
``cft-no-encoding``        no positional encoding (pair geometry on)
``cft-plain``              plain Fourier features (not invariant), normalized tokens
``cft-raw-tokens``         symmetry-adapted encoding, raw tokens, no pair geometry
``cft-normalized-tokens``  + RMS-normalized encoding, first layer per family, balanced tokens
``cft``                    + pair geometry (attention distance bias, gated messages): the default
``cft-pretrained``         + orbit-distance pretraining of the encoding (label-free, 230 groups)
``cgcnn``                  CGCNN with the published sizes and the same element features
=========================  ============================================================

Targets: Carbon-24 energy (all of its val + test, project split), MP-20 formation energy and
band gap (``n_train_mp20`` crystals of project-train, full project-val/test; the encoding
variants and CGCNN only). MP-20 tables add the composition-only floor
(:mod:`studies.kit.composition`). Writes ``<output>/ablation.json``; run
``python -m studies.ablation --help``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from cft_pyg.training.presets import setting

from .kit.catalog import models_for, target_entry
from .kit.claims import Claim
from .kit.equal_epochs import EqualEpochsSettings, make_study, print_summary, summarize
from .kit.study import study_main

__all__ = ["AblationSettings", "STUDY", "main", "run", "summarize"]

_MP20_VARIANTS = ("cft-no-encoding", "cft-plain", "cft", "cgcnn")
_BY_TWO_STD = ("cft-no-encoding", "cft-plain")
"""The encoding must beat these by more than 2 std (the issue that added the ablation)."""


@dataclass
class AblationSettings(EqualEpochsSettings):
    """Settings of the ablation (``from_preset('full' | 'quick', **changes)``)."""

    study_name: ClassVar[str] = "ablation"

    models: tuple[str, ...] | None = setting(
        None, "variants (catalog names; default: the catalog's ablation models; the MP-20 "
        "targets run the encoding variants and CGCNN among them)")

    def variants(self, target: str) -> tuple[str, ...]:
        """The variants trained on ``target``."""
        names = self.models or models_for("ablation", self.quick)
        if target_entry(target).dataset == "mp20" and self.models is None:
            builtin = set(models_for("ablation", False)) - set(_MP20_VARIANTS)
            names = tuple(n for n in names if n not in builtin)
        return tuple(names)

    def claims(self) -> list[Claim]:
        """The CFT against every other variant per target (a lower mean over seeds; by more
        than 2 std against the encoding-free and plain-Fourier variants), and the pretrained
        CFT against the CFT."""
        out = []
        for t in self.targets:
            vs = self.variants(t)
            if "cft" not in vs:
                continue
            out += [Claim("cft", v, t, criterion="two_std" if v in _BY_TWO_STD else "mean")
                    for v in vs if v not in ("cft", "cft-pretrained")]
            if "cft-pretrained" in vs:
                out.append(Claim("cft-pretrained", "cft", t, criterion="mean"))
        return out


STUDY = make_study("ablation")


def run(settings: AblationSettings, *, resume: bool = False, echo: Any = print
        ) -> dict[str, Any]:
    """Run every job of ``settings`` (``resume``: only those the log lacks) and write
    ``ablation.json``."""
    from .kit.study import run_study

    return run_study(STUDY, settings, resume=resume, echo=echo)


def main(argv: list[str] | None = None) -> int:
    return study_main(STUDY, AblationSettings, argv, __doc__.split("\n\n")[0], print_summary)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
