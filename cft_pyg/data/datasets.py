"""Real crystal-property datasets as cached PyG ``InMemoryDataset``s.

* :class:`MP20`, :class:`Perov5`, :class:`Carbon24`: the CDVAE CSV format (one row per
  crystal; columns ``material_id``, ``cif`` and property columns).
* :class:`CIFFolder`: CGCNN's folder format (``id_prop.csv`` without header, rows
  ``id,target[,target...]``, and one ``<id>.cif`` per id), which ALIGNN also reads.

Every entry is parsed with :func:`cft_pyg.data.parse_cif` and standardized with
:func:`cft_pyg.data.from_structure` (spglib, to the default setting of
``SpaceGroup(n)``), with the periodic neighbour graph (CGCNN defaults: 8 A, 12 neighbours).

**Bad input never kills a build and is never dropped silently.**  An entry that cannot be
used (malformed CIF, partial occupancy, overlapping atoms, unknown element, failed symmetry
detection, missing or non-finite target, missing CIF file, ...) is skipped and recorded in
``dataset.skipped`` as ``(id, reason)`` (``reason`` is ``'<code>: <message>'`` with the
codes of :data:`cft_pyg.data.REASONS` plus ``missing_target``, ``missing_file``), written
to ``skipped.csv`` in the processed folder, and summarized in a warning every time the
dataset is loaded.

**Symmetry tolerance and declared space groups.**  The datasets use ``symprec=0.1`` A and
``angle_tolerance=5`` deg by default: the tolerances of the Materials Project (pymatgen's
``SpacegroupAnalyzer`` as used for MP's ``spacegroup.number``), so the detected groups agree
with MP-20's declared ones (the README of ``shared/data`` found 999 of 1,000 sampled rows to
agree) and with Matbench's ``spg_num`` for Perov-5.  Where a file declares a group
(MP-20's ``spacegroup.number``), ``space_group_check`` decides what happens:

* ``'report'`` (default): the crystal is kept with the **detected** group (the coordinates
  are standardized for that group, which is what exact invariance needs), and each
  disagreement is recorded in ``dataset.disagreements`` as ``(id, declared, detected)`` and
  ``space_group_disagreements.csv``;
* ``'strict'``: the declared number is passed as ``expected_space_group``, so disagreeing
  entries are skipped with reason ``space_group_mismatch``;
* ``'ignore'``: no comparison.

**Caching.**  Processed data live in ``<processed_root>/processed/<split>_<key>/`` with
``data.pt``, ``skipped.csv``, ``space_group_disagreements.csv`` and ``meta.json``.
``key`` hashes every option that changes the result (split, targets, tolerances, graph
options, ``max_rows``, the size and modification time of the raw files), so changing any of
them re-processes while unchanged options load from disk.  ``processed_root`` defaults to
``root`` when it is writable and to ``get_home_dir()/<name>/<hash of root>`` otherwise
(``$CFT_PYG_HOME``, :mod:`cft_pyg.home`)
(e.g. the read-only ``shared/data``).

**Project split (only val + test available).**  The public MP-20/Perov-5/Carbon-24 train
CSVs are Git LFS objects that could not be obtained here, so the project's experiments use
a fixed split of the val and test files together: ``split='project-train'``,
``'project-val'``, ``'project-test'`` (80/10/10) of the union sorted by ``material_id``,
permuted with ``numpy.random.default_rng(0)`` (see :func:`project_split`).  For MP-20 this
is 14,475 / 1,809 / 1,809 of 18,093 rows.  The official CDVAE splits ``'train'``, ``'val'``,
``'test'`` are used as they are when their files are present (or downloadable).

**Download.**  With internet, :class:`MP20` downloads missing CSVs from the CDVAE
repository.  Its CSVs are stored with Git LFS, so ``raw.githubusercontent.com`` serves a
small pointer file (``version https://git-lfs.github.com/spec/v1 ...``) instead of the data;
a pointer is detected and the file is fetched from GitHub's LFS media host
(``media.githubusercontent.com``) instead.  Without internet, put ``{train,val,test}.csv``
(or ``.csv.gz``) into ``root`` (or ``root/raw``).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import multiprocessing as mp
import os
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import Data, InMemoryDataset, download_url
from tqdm.auto import tqdm

from ..home import get_home_dir

__all__ = [
    "MP20",
    "Perov5",
    "Carbon24",
    "CIFFolder",
    "CrystalDataset",
    "CDVAEDataset",
    "project_split",
    "PROJECT_SPLITS",
    "PROJECT_SPLIT_SEED",
    "PROJECT_SPLIT_FRACTIONS",
]

PROJECT_SPLITS = ("project-train", "project-val", "project-test")
"""Names of the project's fixed split of the locally available val + test rows."""
PROJECT_SPLIT_SEED = 0
PROJECT_SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
DATASET_SYMPREC = 0.1
"""spglib distance tolerance (A) of the datasets: that of the Materials Project."""
DATASET_ANGLE_TOLERANCE = 5.0
"""spglib angle tolerance (deg) of the datasets: that of the Materials Project."""
_SPACE_GROUP_CHECKS = ("report", "strict", "ignore")
_LFS_MAGIC = b"version https://git-lfs"
_POOL_MIN_ROWS = 64


def project_split(
    material_ids: Sequence[str],
    seed: int = PROJECT_SPLIT_SEED,
    fractions: tuple[float, float, float] = PROJECT_SPLIT_FRACTIONS,
) -> dict[str, list[str]]:
    """The project's fixed split of a set of crystals, by identifier.

    The ids are de-duplicated and sorted (so the file order does not matter), permuted with
    ``numpy.random.default_rng(seed)``, and cut into ``fractions`` (train gets the rounding
    remainder).

    Args:
        material_ids: Identifiers of all crystals (e.g. MP-20 val + test).
        seed: Permutation seed.
        fractions: Train, val and test fractions (summing to 1).

    Returns:
        ``{'project-train': ids, 'project-val': ids, 'project-test': ids}``.
    """
    if len(fractions) != 3 or abs(sum(fractions) - 1.0) > 1e-9 or min(fractions) < 0:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, "
                         f"got {fractions}")
    ids = sorted({str(i) for i in material_ids})
    perm = np.random.default_rng(seed).permutation(len(ids))
    n_val = round(fractions[1] * len(ids))
    n_test = round(fractions[2] * len(ids))
    n_train = len(ids) - n_val - n_test
    shuffled = [ids[i] for i in perm]
    return {
        "project-train": shuffled[:n_train],
        "project-val": shuffled[n_train:n_train + n_val],
        "project-test": shuffled[n_train + n_val:],
    }


def _is_lfs_pointer(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a Git LFS pointer file rather than the data."""
    with open(path, "rb") as f:
        return f.read(len(_LFS_MAGIC)) == _LFS_MAGIC


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and its finished worker processes."""
    try:
        import resource
    except ImportError:  # not on Unix
        return time.process_time()
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _stable_repr(obj: Any) -> str | None:
    """A representation of a callable that does not change between runs (no addresses)."""
    if obj is None:
        return None
    text = repr(obj)
    if " at 0x" in text:
        target = obj if callable(obj) and hasattr(obj, "__qualname__") else type(obj)
        return f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', '')}"
    return text


def _file_signature(path: Path) -> list[Any]:
    stat = path.stat()
    return [path.name, stat.st_size, stat.st_mtime_ns]


# --------------------------------------------------------------------------- workers
def _worker_init() -> None:
    torch.set_num_threads(1)


def _convert(job: tuple[int, str, str | None, str | None, list[float] | None, int | None,
                        dict]) -> tuple:
    """Turn one entry into arrays (picklable) or a skip record; never raises."""
    from .cif import parse_cif
    from .errors import StructureError
    from .structure import from_structure

    index, entry_id, cif, cif_path, y, declared, options = job
    try:
        if y is not None and not all(math.isfinite(v) for v in y):
            return ("skip", index, entry_id, "missing_target",
                    f"target value missing or not finite: {y}")
        if cif is not None and not cif.strip():
            return ("skip", index, entry_id, "malformed_cif", "empty CIF field")
        if cif is None:
            if cif_path is None or not os.path.isfile(cif_path):
                return ("skip", index, entry_id, "missing_file", f"CIF file not found: {cif_path}")
            source: str = Path(cif_path).read_text(errors="replace")
        else:
            source = cif
        structure = parse_cif(source)
        expected = declared if options["space_group_check"] == "strict" else None
        data = from_structure(
            structure, symprec=options["symprec"], angle_tolerance=options["angle_tolerance"],
            expected_space_group=expected, radius=options["radius"],
            max_neighbors=options["max_neighbors"],
            y=None if y is None else (y[0] if len(y) == 1 else y), material_id=entry_id)
    except StructureError as exc:
        return ("skip", index, entry_id, exc.reason, str(exc))
    except Exception as exc:  # anything unexpected is recorded, never fatal
        return ("skip", index, entry_id, "error", f"{type(exc).__name__}: {exc}")
    arrays = {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in data.items()}
    return ("ok", index, entry_id, arrays, declared)


def _arrays_to_data(arrays: dict[str, Any]) -> Data:
    data = Data(**{k: (torch.from_numpy(v) if isinstance(v, np.ndarray) else v)
                   for k, v in arrays.items()})
    data.num_nodes = int(data.z.shape[0])
    return data


# --------------------------------------------------------------------------- base class
class CrystalDataset(InMemoryDataset):
    """Base class: a list of crystal entries standardized into a cached ``InMemoryDataset``.

    Subclasses implement :meth:`_raw_requirements` (the raw files needed) and
    :meth:`_entries` (the rows: ``(id, cif_text or None, cif_path or None, targets,
    declared_group)``).

    Args:
        root: Folder holding the raw files (in ``root`` or ``root/raw``).
        target: Target column name(s); one name gives ``y`` of shape ``(1,)``, several give
            ``(1, T)``.
        symprec: spglib distance tolerance (A).
        angle_tolerance: spglib angle tolerance (deg).
        space_group_check: ``'report'``, ``'strict'`` or ``'ignore'`` (see module docs).
        radius: Neighbour cutoff (A).
        max_neighbors: Nearest neighbours per atom, tied shells kept whole (``None``: all
            within ``radius``).
        max_rows: Use only the first ``max_rows`` entries (of the split), e.g. for tests.
        num_workers: Processes for processing (default ``min(2, cpu_count)``; 0: in-process).
        processed_root: Where ``processed/`` goes (default ``root`` if writable, else a
            user cache folder).
        transform, pre_transform, pre_filter: As in PyG.
        force_reload: Re-process even if a cache exists.
        log: Show progress bars and messages.

    Attributes:
        skipped: ``list[(id, reason)]`` of skipped entries.
        disagreements: ``list[(id, declared, detected)]`` space-group disagreements.
        processing_seconds: Wall time of processing (``None`` when loaded from the cache).
        meta: Summary read from ``meta.json`` (counts, timing, options).
    """

    name: ClassVar[str] = "crystals"
    VERSION: ClassVar[int] = 2  # 2: neighbour cap keeps tied shells
    available_targets: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        root: str | os.PathLike,
        target: str | Sequence[str] | None = None,
        *,
        symprec: float = DATASET_SYMPREC,
        angle_tolerance: float = DATASET_ANGLE_TOLERANCE,
        space_group_check: str = "report",
        radius: float = 8.0,
        max_neighbors: int | None = 12,
        max_rows: int | None = None,
        num_workers: int | None = None,
        processed_root: str | os.PathLike | None = None,
        transform: Callable | None = None,
        pre_transform: Callable | None = None,
        pre_filter: Callable | None = None,
        force_reload: bool = False,
        log: bool = True,
    ) -> None:
        if space_group_check not in _SPACE_GROUP_CHECKS:
            raise ValueError(f"space_group_check must be one of {_SPACE_GROUP_CHECKS}, "
                             f"got {space_group_check!r}")
        if max_rows is not None and max_rows < 1:
            raise ValueError(f"max_rows must be >= 1, got {max_rows}")
        self.targets = self._check_targets(target)
        self.options: dict[str, Any] = {
            "symprec": float(symprec), "angle_tolerance": float(angle_tolerance),
            "space_group_check": space_group_check, "radius": float(radius),
            "max_neighbors": None if max_neighbors is None else int(max_neighbors),
        }
        self.max_rows = max_rows
        self.num_workers = min(2, os.cpu_count() or 1) if num_workers is None else num_workers
        self._root_path = Path(root).expanduser().resolve()
        self._processed_root = self._choose_processed_root(processed_root)
        self.skipped: list[tuple[str, str]] = []
        self.disagreements: list[tuple[str, int, int]] = []
        self.processing_seconds: float | None = None
        self.meta: dict[str, Any] = {}
        super().__init__(str(self._root_path), transform, pre_transform, pre_filter,
                         force_reload=force_reload, log=log)
        self.load(self.processed_paths[0])
        self._load_reports()

    # ------------------------------------------------------------------ options
    def _check_targets(self, target: str | Sequence[str] | None) -> list[str]:
        if target is None:
            return [self.available_targets[0]] if self.available_targets else []
        names = [target] if isinstance(target, str) else list(target)
        if not names:
            raise ValueError("target must name at least one column")
        if self.available_targets:
            unknown = [t for t in names if t not in self.available_targets]
            if unknown:
                raise ValueError(f"{type(self).__name__}: unknown target(s) {unknown}; "
                                 f"available: {list(self.available_targets)}")
        return names

    def _choose_processed_root(self, processed_root: str | os.PathLike | None) -> Path:
        if processed_root is not None:
            return Path(processed_root).expanduser().resolve()
        root = self._root_path
        probe = root if root.exists() else root.parent
        if os.access(probe, os.W_OK):
            return root
        digest = hashlib.sha1(str(root).encode()).hexdigest()[:10]
        return get_home_dir() / self.name / digest

    @property
    def split_name(self) -> str:
        """Name of the processed subset (the split, or ``'all'``)."""
        return "all"

    @property
    def cache_key(self) -> str:
        """Hash of every option and raw file that changes the processed data."""
        raw = [_file_signature(Path(p)) for p in self.raw_paths if Path(p).exists()]
        payload = json.dumps({
            "class": type(self).__name__, "v": self.VERSION, "split": self.split_name,
            "targets": self.targets, "options": self.options, "max_rows": self.max_rows,
            "raw": raw, "pre_transform": _stable_repr(self.pre_transform),
        }, sort_keys=True)
        return hashlib.sha1(payload.encode()).hexdigest()[:12]

    # ------------------------------------------------------------------ PyG hooks
    @property
    def raw_dir(self) -> str:
        for folder in (self._root_path, self._root_path / "raw"):
            if any((folder / name).exists() for name in self._candidate_names()):
                return str(folder)
        return str(self._root_path / "raw")

    def _candidate_names(self) -> list[str]:
        return [name for group in self._raw_requirements() for name in group]

    def _raw_requirements(self) -> list[list[str]]:
        """For each needed raw file, its accepted names in order of preference."""
        raise NotImplementedError

    @property
    def raw_file_names(self) -> list[str]:
        folder = Path(self.raw_dir)
        names = []
        for options in self._raw_requirements():
            found = next((n for n in options if (folder / n).exists()), options[-1])
            names.append(found)
        return names

    @property
    def processed_dir(self) -> str:
        return str(self._processed_root / "processed" / f"{self.split_name}_{self.cache_key}")

    @property
    def processed_file_names(self) -> list[str]:
        return ["data.pt", "skipped.csv", "meta.json"]

    def download(self) -> None:
        raise FileNotFoundError(
            f"{type(self).__name__}: raw files not found: "
            f"{[p for p in self.raw_paths if not os.path.exists(p)]}")

    # ------------------------------------------------------------------ processing
    def _entries(self) -> list[tuple[str, str | None, str | None, list[float] | None,
                                     int | None]]:
        """The entries: ``(id, cif_text, cif_path, targets, declared_space_group)``."""
        raise NotImplementedError

    def process(self) -> None:
        start = time.perf_counter()
        cpu_start = _cpu_seconds()
        entries = self._entries()
        if self.max_rows is not None:
            entries = entries[:self.max_rows]
        jobs = [(i, *entry, self.options) for i, entry in enumerate(entries)]
        label = f"{type(self).__name__}({self.split_name})"
        bar = tqdm(total=len(jobs), desc=label, unit="crystal", disable=not self.log)
        results: list[tuple] = []
        if self.num_workers > 1 and len(jobs) >= _POOL_MIN_ROWS:
            method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
            ctx = mp.get_context(method)
            with ctx.Pool(self.num_workers, initializer=_worker_init) as pool:
                for result in pool.imap(_convert, jobs, chunksize=16):
                    results.append(result)
                    bar.update()
        else:
            threads = torch.get_num_threads()
            torch.set_num_threads(1)  # many tiny tensor ops: threads only add overhead
            try:
                for job in jobs:
                    results.append(_convert(job))
                    bar.update()
            finally:
                torch.set_num_threads(threads)
        bar.close()
        data_list: list[Data] = []
        skipped: list[tuple[str, str, str]] = []
        disagreements: list[tuple[str, int, int]] = []
        check = self.options["space_group_check"]
        for result in results:
            if result[0] == "skip":
                _, _, entry_id, reason, message = result
                skipped.append((entry_id, reason, message))
                continue
            _, _, entry_id, arrays, declared = result
            data = _arrays_to_data(arrays)
            detected = int(data.space_group[0])
            if check == "report" and declared is not None and declared != detected:
                disagreements.append((entry_id, int(declared), detected))
            if self.pre_filter is not None and not self.pre_filter(data):
                skipped.append((entry_id, "pre_filter", "rejected by pre_filter"))
                continue
            if self.pre_transform is not None:
                data = self.pre_transform(data)
            data_list.append(data)
        with open(self.processed_paths[1], "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["id", "reason", "message"])
            writer.writerows(skipped)
        if not data_list:
            raise RuntimeError(f"{label}: every one of the {len(jobs)} entries was skipped "
                               f"(see {self.processed_paths[1]}); first reasons: {skipped[:3]}")
        self.save(data_list, self.processed_paths[0])
        seconds = time.perf_counter() - start
        cpu = _cpu_seconds() - cpu_start
        with open(os.path.join(self.processed_dir, "space_group_disagreements.csv"), "w",
                  newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["id", "declared", "detected"])
            writer.writerows(disagreements)
        meta = {
            "dataset": type(self).__name__, "split": self.split_name, "targets": self.targets,
            "options": self.options, "max_rows": self.max_rows, "entries": len(jobs),
            "kept": len(data_list), "skipped": len(skipped),
            "skipped_by_reason": dict(Counter(s[1] for s in skipped)),
            "space_group_disagreements": len(disagreements),
            "processing_seconds": seconds, "cpu_seconds": cpu, "num_workers": self.num_workers,
        }
        with open(self.processed_paths[2], "w") as f:
            json.dump(meta, f, indent=2)
        self.processing_seconds = seconds
        if self.log:
            print(f"{label}: processed {len(jobs)} entries in {seconds:.1f} s "
                  f"({len(jobs) / max(seconds, 1e-9):.0f}/s, {self.num_workers} workers, "
                  f"{1000 * cpu / max(len(jobs), 1):.0f} ms CPU per entry): "
                  f"kept {len(data_list)}, skipped {len(skipped)}, "
                  f"space-group disagreements {len(disagreements)}")

    def _load_reports(self) -> None:
        with open(self.processed_paths[1], newline="") as f:
            rows = list(csv.DictReader(f))
        self.skipped = [(r["id"], f"{r['reason']}: {r['message']}") for r in rows]
        path = os.path.join(self.processed_dir, "space_group_disagreements.csv")
        with open(path, newline="") as f:
            self.disagreements = [(r["id"], int(r["declared"]), int(r["detected"]))
                                  for r in csv.DictReader(f)]
        with open(self.processed_paths[2]) as f:
            self.meta = json.load(f)
        if self.skipped:
            counts = Counter(r["reason"] for r in rows)
            summary = ", ".join(f"{n} {reason}" for reason, n in counts.most_common())
            warnings.warn(
                f"{type(self).__name__}({self.split_name}): skipped {len(self.skipped)} of "
                f"{self.meta.get('entries', '?')} entries ({summary}); see "
                f"{self.processed_paths[1]} or .skipped", stacklevel=3)
        if self.disagreements and self.log:
            print(f"{type(self).__name__}({self.split_name}): {len(self.disagreements)} "
                  f"crystals whose detected space group differs from the declared one (kept "
                  f"with the detected group); see .disagreements")


# --------------------------------------------------------------------------- CDVAE CSV
class CDVAEDataset(CrystalDataset):
    """A dataset in the CDVAE CSV format, with official and project splits.

    Args:
        root: Folder with ``{train,val,test}.csv`` or ``.csv.gz`` (in ``root`` or
            ``root/raw``).
        split: ``'train'``, ``'val'``, ``'test'`` (official; one file each) or
            ``'project-train'``, ``'project-val'``, ``'project-test'`` (the fixed split of
            val + test, see :func:`project_split`).
        target: Target column(s), default the first of ``available_targets``.
        download: Download missing files (only where the class has a URL).
        **kwargs: Options of :class:`CrystalDataset`.
    """

    url: ClassVar[str | None] = None
    lfs_url: ClassVar[str | None] = None
    declared_group_column: ClassVar[str | None] = None

    def __init__(self, root: str | os.PathLike, split: str = "project-train",
                 target: str | Sequence[str] | None = None, *, download: bool = True,
                 **kwargs: Any) -> None:
        valid = ("train", "val", "test", *PROJECT_SPLITS)
        if split not in valid:
            raise ValueError(f"split must be one of {valid}, got {split!r}")
        self.split = split
        self.allow_download = download
        super().__init__(root, target, **kwargs)

    @property
    def split_name(self) -> str:
        return self.split

    def _files_needed(self) -> list[str]:
        return ["val", "test"] if self.split in PROJECT_SPLITS else [self.split]

    def _raw_requirements(self) -> list[list[str]]:
        return [[f"{s}.csv.gz", f"{s}.csv"] for s in self._files_needed()]

    def download(self) -> None:
        if files_exist_all(self.processed_paths):
            return
        missing = [s for s, p in zip(self._files_needed(), self.raw_paths, strict=True)
                   if not os.path.exists(p)]
        if not self.allow_download or self.url is None:
            raise FileNotFoundError(
                f"{type(self).__name__}: no {missing} file (.csv or .csv.gz) in {self.root} "
                f"or {self.root}/raw" + ("" if self.url is None else
                                         "; pass download=True to fetch it"))
        os.makedirs(self.raw_dir, exist_ok=True)
        for split in missing:
            path = download_url(self.url.format(split=split), self.raw_dir, log=self.log)
            if _is_lfs_pointer(path) and self.lfs_url is not None:
                os.remove(path)
                path = download_url(self.lfs_url.format(split=split), self.raw_dir,
                                    log=self.log)
            if _is_lfs_pointer(path):
                os.remove(path)
                raise RuntimeError(
                    f"{self.url.format(split=split)} is a Git LFS pointer and the LFS media "
                    f"host did not serve the data; clone the repository with git-lfs "
                    f"(`git lfs pull`) and copy {split}.csv into {self.raw_dir}")

    def _read(self, split: str) -> pd.DataFrame:
        path = Path(self.raw_dir) / self.raw_file_names[self._files_needed().index(split)]
        frame = pd.read_csv(path)
        missing = [c for c in ["material_id", "cif", *self.targets] if c not in frame.columns]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}; columns are "
                             f"{list(frame.columns)}")
        return frame

    def _entries(self) -> list[tuple[str, str | None, str | None, list[float] | None,
                                     int | None]]:
        frames = [self._read(s) for s in self._files_needed()]
        frame = pd.concat(frames, ignore_index=True)
        frame["material_id"] = frame["material_id"].astype(str)
        if self.split in PROJECT_SPLITS:
            ids = project_split(frame["material_id"].tolist())[self.split]
            order = {mid: k for k, mid in enumerate(ids)}
            frame = frame[frame["material_id"].isin(order)]
            frame = frame.drop_duplicates("material_id")
            frame = frame.iloc[np.argsort([order[m] for m in frame["material_id"]],
                                          kind="stable")]
        entries = []
        column = self.declared_group_column
        for record in frame.to_dict("records"):
            targets = [float(record[t]) if _is_number(record[t]) else float("nan")
                       for t in self.targets]
            cif = record["cif"] if isinstance(record["cif"], str) else ""
            declared = None
            if column is not None and column in record and _is_number(record[column]):
                declared = int(record[column])
            entries.append((record["material_id"], cif, None, targets, declared))
        return entries


def files_exist_all(paths: Sequence[str]) -> bool:
    """Whether every path exists (and the list is not empty)."""
    return len(paths) > 0 and all(os.path.exists(p) for p in paths)


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


class MP20(CDVAEDataset):
    """MP-20 (CDVAE): 45,229 Materials Project crystals with at most 20 atoms per cell.

    Targets: ``formation_energy_per_atom`` (default, eV/atom), ``band_gap`` (eV),
    ``e_above_hull`` (eV/atom).  The declared ``spacegroup.number`` (MP, symprec 0.1) is
    checked against the detected group (see the module docs); MP's tolerances
    (``symprec=0.1``, ``angle_tolerance=5``) are the defaults.

    Locally (``shared/data/mp_20``) only ``val.csv.gz`` and ``test.csv.gz`` exist: use the
    ``project-*`` splits (14,475 / 1,809 / 1,809).  With internet, the official files are
    downloaded from ``https://raw.githubusercontent.com/txie-93/cdvae/main/data/mp_20/``
    (Git LFS: fetched from ``media.githubusercontent.com``).

    Args:
        root: Folder with the CSV files (read-only is fine: the cache then goes to
            ``processed_root`` or the user cache).
        split: See :class:`CDVAEDataset`.
        target: One or several of the targets above.
        **kwargs: Options of :class:`CDVAEDataset` / :class:`CrystalDataset`.

    Processing (CIF parsing, spglib standardization, neighbour graph) costs about 21 ms of
    CPU per crystal: 372 s of CPU for the 18,093 local crystals (about 3 min with the
    default 2 worker processes on 2 free cores); it runs once, later loads hit the cache.
    Measured with ``symprec=0.1``, ``angle_tolerance=5``: no local entry is skipped, the
    crystals cover 168 groups, and the detected group differs from the declared
    ``spacegroup.number`` for 1 of 18,093 (``mp-5466``: declared 15, detected 88; kept with
    88 and listed in ``disagreements``).

    Example::

        train = MP20("../shared/data/mp_20", split="project-train", target="band_gap")
    """

    name = "mp_20"
    available_targets = ("formation_energy_per_atom", "band_gap", "e_above_hull")
    url = "https://raw.githubusercontent.com/txie-93/cdvae/main/data/mp_20/{split}.csv"
    lfs_url = "https://media.githubusercontent.com/media/txie-93/cdvae/main/data/mp_20/{split}.csv"
    declared_group_column = "spacegroup.number"


class Perov5(CDVAEDataset):
    """Perov-5 (CDVAE): 18,928 ABX3 perovskites with 5 atoms per cell, 5 space groups.

    Targets: ``heat_ref`` (default; heat of formation, eV per 5-atom cell), ``heat_all``,
    ``dir_gap``, ``ind_gap`` (eV).  Locally only val + test have properties: use the
    ``project-*`` splits.  Official files: ``txie-93/cdvae`` ``data/perov_5/``.

    Args:
        root: Folder with the CSV files.
        split: See :class:`CDVAEDataset`.
        target: One or several of the targets above.
        **kwargs: Options of :class:`CDVAEDataset` / :class:`CrystalDataset`.
    """

    name = "perov_5"
    available_targets = ("heat_ref", "heat_all", "dir_gap", "ind_gap")
    url = "https://raw.githubusercontent.com/txie-93/cdvae/main/data/perov_5/{split}.csv"
    lfs_url = ("https://media.githubusercontent.com/media/txie-93/cdvae/main/data/perov_5/"
               "{split}.csv")


class Carbon24(CDVAEDataset):
    """Carbon-24 (CDVAE): 10,153 carbon structures (6-24 atoms) from AIRSS at 10 GPa.

    Target: ``energy_per_atom`` (eV/atom).  Locally only val + test have properties: use the
    ``project-*`` splits.  Official files: ``txie-93/cdvae`` ``data/carbon_24/``.

    Args:
        root: Folder with the CSV files.
        split: See :class:`CDVAEDataset`.
        target: ``'energy_per_atom'``.
        **kwargs: Options of :class:`CDVAEDataset` / :class:`CrystalDataset`.
    """

    name = "carbon_24"
    available_targets = ("energy_per_atom",)
    url = "https://raw.githubusercontent.com/txie-93/cdvae/main/data/carbon_24/{split}.csv"
    lfs_url = ("https://media.githubusercontent.com/media/txie-93/cdvae/main/data/carbon_24/"
               "{split}.csv")


# --------------------------------------------------------------------------- CIF folder
class CIFFolder(CrystalDataset):
    """CGCNN's folder format: ``id_prop.csv`` (no header; ``id,target[,target...]``) and one
    ``<id>.cif`` per id (an id that already ends in ``.cif`` is used as the file name, as
    ALIGNN writes it).

    ``y`` is ``(1,)`` for one target column and ``(1, T)`` for several; ``target`` selects
    columns by 0-based index among the target columns (default: all).  Entries whose CIF is
    missing or bad are skipped and reported.  No split is applied: use
    :mod:`cft_pyg.data.splits`.

    Args:
        root: The folder.
        target: Target column indices (``int`` or sequence), default all.
        id_prop: Name of the id/target file.
        **kwargs: Options of :class:`CrystalDataset`.
    """

    name = "cif_folder"

    def __init__(self, root: str | os.PathLike, target: int | Sequence[int] | None = None, *,
                 id_prop: str = "id_prop.csv", **kwargs: Any) -> None:
        self.id_prop = id_prop
        self.target_columns = None if target is None else (
            [int(target)] if isinstance(target, (int, np.integer)) else [int(t) for t in target])
        super().__init__(root, None, **kwargs)

    def _check_targets(self, target: str | Sequence[str] | None) -> list[str]:
        cols = getattr(self, "target_columns", None)
        return ["all"] if cols is None else [f"column{c}" for c in cols]

    def _raw_requirements(self) -> list[list[str]]:
        return [[self.id_prop]]

    def _entries(self) -> list[tuple[str, str | None, str | None, list[float] | None,
                                     int | None]]:
        folder = Path(self.raw_dir)
        entries = []
        with open(folder / self.id_prop, newline="") as f:
            for line_no, row in enumerate(csv.reader(f), start=1):
                if not row or not row[0].strip():
                    continue
                entry_id = row[0].strip()
                raw_targets = row[1:]
                if self.target_columns is not None:
                    raw_targets = [raw_targets[c] if c < len(raw_targets) else ""
                                   for c in self.target_columns]
                values = [float(v) if _is_number(v) else float("nan") for v in raw_targets]
                if not values:
                    warnings.warn(f"{folder / self.id_prop}:{line_no}: no target column",
                                  stacklevel=2)
                file_name = entry_id if entry_id.lower().endswith(".cif") else f"{entry_id}.cif"
                entries.append((entry_id, None, str(folder / file_name), values or None, None))
        return entries
