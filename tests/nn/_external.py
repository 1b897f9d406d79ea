"""A handful of real crystals as CIF files and a CLI round trip (train one step, predict),
for the adapters of external packages (matgl, CHGNet)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from torch_geometric.data import Batch

# (name, space group symbol, lattice constructor arguments, species, fractional sites, target)
_CRYSTALS = (
    ("nacl", "Fm-3m", ("cubic", 5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]], -2.1),
    ("si", "Fd-3m", ("cubic", 5.43), ["Si"], [[0, 0, 0]], 0.0),
    ("tio2", "P4_2/mnm", ("tetragonal", 4.59, 2.96), ["Ti", "O"],
     [[0, 0, 0], [0.305, 0.305, 0]], -3.3),
    ("mgo", "Fm-3m", ("cubic", 4.21), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]], -3.0),
    ("zno", "P6_3mc", ("hexagonal", 3.25, 5.21), ["Zn", "O"],
     [[1 / 3, 2 / 3, 0], [1 / 3, 2 / 3, 0.382]], -1.8),
    ("cscl", "Pm-3m", ("cubic", 4.12), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]], -2.3),
)


def structures() -> dict[str, object]:
    """The crystals as pymatgen structures."""
    from pymatgen.core import Lattice, Structure

    out = {}
    for name, group, (kind, *params), species, sites, _ in _CRYSTALS:
        out[name] = Structure.from_spacegroup(group, getattr(Lattice, kind)(*params), species,
                                              sites)
    return out


def batch(names: tuple[str, ...] = ("nacl", "tio2", "zno")) -> Batch:
    """A batch of some of the crystals (cft-pyg featurization)."""
    from cft_pyg.data import from_structure

    found = structures()
    return Batch.from_data_list([from_structure(found[n]) for n in names])


def cif_folder(root: Path) -> Path:
    """The crystals as CIF files with an ``id_prop.csv`` (a :class:`~cft_pyg.data.CIFFolder`)."""
    folder = root / "cifs"
    folder.mkdir(parents=True)
    lines = []
    for (name, *_, target), structure in zip(_CRYSTALS, structures().values()):
        structure.to(filename=str(folder / f"{name}.cif"))
        lines.append(f"{name},{target}")
    (folder / "id_prop.csv").write_text("\n".join(lines) + "\n")
    return folder


def train_and_predict(model: str, model_kwargs: dict, root: Path) -> pd.DataFrame:
    """``cft-pyg train`` (one epoch on the crystals) and ``cft-pyg predict`` on their CIFs;
    returns the predictions."""
    import json

    from cft_pyg.cli import main

    folder = cif_folder(root / "data")
    run = root / "run"
    argv = ["train", "--model", model, "--model-kwargs", json.dumps(model_kwargs),
            "--dataset", "cif-folder", "--data-root", str(folder), "--split", "random",
            "--val-fraction", "0.34", "--test-fraction", "0.34", "--epochs", "1",
            "--warmup-epochs", "0",
            "--batch-size", "2", "--accelerator", "cpu", "--devices", "1", "--no-progress",
            "--threads", "1", "--output-dir", str(run)]
    assert main(argv) == 0
    ckpt = run / "checkpoints" / "best.ckpt"
    assert ckpt.is_file()
    out = root / "pred.csv"
    assert main(["predict", str(ckpt), str(folder), "-o", str(out), "--threads", "1"]) == 0
    df = pd.read_csv(out)
    assert len(df) == len(_CRYSTALS)
    assert torch.isfinite(torch.tensor(df["prediction"].to_numpy())).all()
    return df
