"""The real crystal datasets (compatibility module: each now has its own home).

* :class:`MP20`, :class:`Perov5`, :class:`Carbon24` (the CDVAE CSV format):
  :mod:`cft_pyg.data.cdvae`;
* :class:`CIFFolder` (CGCNN's folder format): :mod:`cft_pyg.data.cif_folder`;
* the base :class:`CrystalDataset` (caching, parallel conversion, reports):
  :mod:`cft_pyg.data.crystal_dataset`;
* :func:`project_split`: :mod:`cft_pyg.data.splits`.
"""

from __future__ import annotations

from .cdvae import MP20, Carbon24, CDVAEDataset, Perov5, files_exist_all
from .cif_folder import CIFFolder
from .crystal_dataset import CrystalDataset
from .splits import PROJECT_SPLIT_FRACTIONS, PROJECT_SPLIT_SEED, PROJECT_SPLITS, project_split

__all__ = [
    "MP20",
    "Perov5",
    "Carbon24",
    "CIFFolder",
    "CrystalDataset",
    "CDVAEDataset",
    "files_exist_all",
    "project_split",
    "PROJECT_SPLITS",
    "PROJECT_SPLIT_SEED",
    "PROJECT_SPLIT_FRACTIONS",
]
