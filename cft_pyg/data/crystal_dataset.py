"""The base of the real crystal datasets: caching, parallel conversion and reports.

A dataset lists its raw files and its entries (:mod:`cft_pyg.data.cdvae`,
:mod:`cft_pyg.data.cif_folder`); every entry is parsed with :func:`cft_pyg.data.parse_cif` and
standardized with :func:`cft_pyg.data.from_structure` (spglib, to the default setting of
``SpaceGroup(n)``), with the periodic neighbour graph (CGCNN defaults: 8 A, 12 neighbours).

**Bad input never kills a build and is never dropped silently.**  An entry that cannot be
used (malformed CIF, partial occupancy, overlapping atoms, unknown element, failed symmetry
detection, missing or non-finite target, missing CIF file, ...) is skipped and recorded in
``dataset.skipped`` as ``(id, reason)`` (``reason`` is ``'<code>: <message>'`` with the
codes of :class:`cft_pyg.data.errors.SkipReason`), written to ``skipped.csv`` in the
processed folder, and summarized in a warning every time the dataset is loaded.

**Featurization and declared space groups.**  The datasets featurize with
:data:`~cft_pyg.data.DEFAULT_FEATURIZATION` unless given another
:class:`~cft_pyg.data.Featurization` (or single options such as ``symprec=0.01``): its
``symprec=0.1`` A and ``angle_tolerance=5`` deg are the tolerances of the Materials Project
(pymatgen's ``SpacegroupAnalyzer`` as used for MP's ``spacegroup.number``), so the detected
groups agree with MP-20's declared ones (the README of ``shared/data`` found 999 of 1,000
sampled rows to agree) and with Matbench's ``spg_num`` for Perov-5.  The featurization is
``dataset.featurization``, part of the cache key and of ``meta.json``, and recorded on every
crystal.  Where a file declares a group (MP-20's ``spacegroup.number``),
``space_group_check`` decides what happens:

* ``'report'`` (default): the crystal is kept with the **detected** group (the coordinates
  are standardized for that group, which is what exact invariance needs), and each
  disagreement is recorded in ``dataset.disagreements`` as ``(id, declared, detected)`` and
  ``space_group_disagreements.csv``;
* ``'strict'``: the declared number is passed as ``expected_space_group``, so disagreeing
  entries are skipped with reason ``space_group_mismatch``;
* ``'ignore'``: no comparison.

**Caching.**  Processed data live in ``<processed_root>/processed/<split>_<key>/`` with
``data.pt``, ``skipped.csv``, ``space_group_disagreements.csv`` and ``meta.json``.
``key`` hashes every option that changes the result (split, tolerances, graph options,
``max_rows``, ``sample``, the size and modification time of the raw files), so changing any
of them re-processes while unchanged options load from disk.  The target is not part of it:
a dataset with named targets (``available_targets``) stores them all, and the chosen ones
are selected on loading, so a second target on the same crystals reuses the cache (crystals
whose chosen target is missing are then left out and listed in ``dataset.skipped``).
``processed_root`` defaults to ``root`` when it is writable and to
``get_home_dir()/<name>/<hash of root>`` otherwise (e.g. the read-only ``shared/data``;
:mod:`cft_pyg.home`, ``$CFT_PYG_HOME``).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from torch_geometric.data import Data, InMemoryDataset

from ..home import get_home_dir
from .entries import Entry, Job, Skipped, arrays_to_data, convert_entry
from .errors import SkipReason
from .featurization import Featurization
from .processing import cpu_seconds, options_hash, parallel_map

__all__ = ["CrystalDataset", "sample_indices"]
_SPACE_GROUP_CHECKS = ("report", "strict", "ignore")
_POOL_MIN_ROWS = 64


def _stable_repr(obj: Any) -> str | None:
    """A representation of a callable that does not change between runs (no addresses)."""
    if obj is None:
        return None
    text = repr(obj)
    if " at 0x" in text:
        target = obj if callable(obj) and hasattr(obj, "__qualname__") else type(obj)
        return f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', '')}"
    return text


def sample_indices(n: int, k: int, seed: int) -> list[int]:
    """A seeded random choice of ``min(k, n)`` of ``range(n)``, in increasing order.

    ``torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:k]``, sorted: the
    one subsampling rule of the package (before processing in :class:`CrystalDataset`,
    after it for datasets built otherwise), so both choose the same crystals.
    """
    import torch

    if k >= n:
        return list(range(n))
    g = torch.Generator().manual_seed(int(seed))
    return torch.randperm(n, generator=g)[:k].sort().values.tolist()


def _file_signature(path: Path) -> list[Any]:
    stat = path.stat()
    return [path.name, stat.st_size, stat.st_mtime_ns]


class CrystalDataset(InMemoryDataset):
    """Base class: a list of crystal entries standardized into a cached ``InMemoryDataset``.

    Subclasses only list their files (:meth:`_raw_requirements`) and their entries
    (:meth:`_entries`: :class:`~cft_pyg.data.entries.Entry` rows); this base owns the
    options, the cache key and folder, the parallel conversion with progress, and the
    skipped-entries and space-group reports.

    Args:
        root: Folder holding the raw files (in ``root`` or ``root/raw``).
        target: Target column name(s); one name gives ``y`` of shape ``(1,)``, several give
            ``(1, T)``.
        featurization: How entries become ``Data`` (default
            :data:`~cft_pyg.data.DEFAULT_FEATURIZATION`).
        space_group_check: ``'report'``, ``'strict'`` or ``'ignore'`` (see module docs).
        max_rows: Use only the first ``max_rows`` entries (of the split), e.g. for tests.
        sample: Process only a seeded random subset of ``sample`` entries (of the split,
            after ``max_rows``), chosen **before** processing, so a small run on a large
            file converts only what it uses. Entries that cannot be used are still skipped
            and reported, so up to ``sample`` crystals remain. The choice is
            ``torch.randperm(n_entries, generator=manual_seed(sample_seed))[:sample]``,
            in file order.
        sample_seed: Seed of ``sample``.
        num_workers: Processes for processing (default ``min(2, cpu_count)``; 0: in-process).
        processed_root: Where ``processed/`` goes (default ``root`` if writable, else a
            user cache folder).
        transform, pre_transform, pre_filter: As in PyG.
        force_reload: Re-process even if a cache exists.
        log: Show progress bars and messages.
        **options: Changes to ``featurization`` by name (``symprec=0.01``, ``radius=6.0``,
            ...; see :class:`~cft_pyg.data.Featurization`).

    Attributes:
        featurization: The :class:`~cft_pyg.data.Featurization` of the crystals.
        skipped: ``list[(id, reason)]`` of skipped entries.
        disagreements: ``list[(id, declared, detected)]`` space-group disagreements.
        processing_seconds: Wall time of processing (``None`` when loaded from the cache).
        meta: Summary read from ``meta.json`` (counts, timing, options).
    """

    name: ClassVar[str] = "crystals"
    VERSION: ClassVar[int] = 4  # 2: tied shells; 3: order-independent symmetrization;
    # 4: Featurization recorded, canonical handedness
    available_targets: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        root: str | os.PathLike,
        target: str | Sequence[str] | None = None,
        *,
        featurization: Featurization | None = None,
        space_group_check: str = "report",
        max_rows: int | None = None,
        sample: int | None = None,
        sample_seed: int = 0,
        num_workers: int | None = None,
        processed_root: str | os.PathLike | None = None,
        transform: Callable | None = None,
        pre_transform: Callable | None = None,
        pre_filter: Callable | None = None,
        force_reload: bool = False,
        log: bool = True,
        **options: Any,
    ) -> None:
        if space_group_check not in _SPACE_GROUP_CHECKS:
            raise ValueError(f"space_group_check must be one of {_SPACE_GROUP_CHECKS}, "
                             f"got {space_group_check!r}")
        if max_rows is not None and max_rows < 1:
            raise ValueError(f"max_rows must be >= 1, got {max_rows}")
        if sample is not None and sample < 1:
            raise ValueError(f"sample must be >= 1, got {sample}")
        self.targets = self._check_targets(target)
        self.featurization = Featurization.resolve(featurization, **options)
        self.options: dict[str, Any] = {
            "featurization": self.featurization.cache_dict(),
            "space_group_check": space_group_check,
        }
        self.max_rows = max_rows
        self.sample = sample
        self.sample_seed = int(sample_seed)
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

    @property
    def stored_targets(self) -> list[str]:
        """The targets kept in the processed data: every one of ``available_targets`` (so
        that the cache serves each of them), else the chosen ones."""
        return list(self.available_targets) if self.available_targets else list(self.targets)

    def _select_targets(self) -> None:
        """Keep the chosen targets' columns of ``y`` (of :attr:`stored_targets`) and leave
        out the crystals where one of them is missing (listed in ``skipped``; the processed
        cache's ``skipped.csv`` and ``meta`` describe the cache, made for every target)."""
        stored, y = self.stored_targets, getattr(self._data, "y", None)
        if not self.available_targets or y is None or y.ndim != 2:
            return
        if stored != self.targets:
            y = y[:, [stored.index(t) for t in self.targets]]
            self._data.y = y[:, 0] if len(self.targets) == 1 else y
        missing = ~y.isfinite().all(dim=1)
        if bool(missing.any()):
            ids = self._data.material_id if hasattr(self._data, "material_id") else None
            gone = missing.nonzero().flatten().tolist()
            self.skipped += [(str(ids[i]) if ids is not None else str(i),
                              f"missing_target: no {', '.join(self.targets)} value")
                             for i in gone]
            self._indices = (~missing).nonzero().flatten().tolist()

    def _choose_processed_root(self, processed_root: str | os.PathLike | None) -> Path:
        if processed_root is not None:
            return Path(processed_root).expanduser().resolve()
        root = self._root_path
        probe = root if root.exists() else root.parent
        # a folder without write bits counts as read-only even for root (who may write
        # anywhere): shared, read-only data stay untouched
        if os.access(probe, os.W_OK) and probe.stat().st_mode & 0o222:
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
        key: dict[str, Any] = {
            "class": type(self).__name__, "v": self.VERSION, "split": self.split_name,
            "targets": self.stored_targets, "options": self.options,
            "max_rows": self.max_rows, "raw": raw,
            "pre_transform": _stable_repr(self.pre_transform),
        }
        if self.sample is not None:  # absent otherwise: existing caches keep their key
            key["sample"] = [self.sample, self.sample_seed]
        return options_hash(key)

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

    def _process(self) -> None:
        """PyG's processing step, under a lock beside the processed folder: a second process
        (two training jobs side by side) waits for the first and then loads its files
        instead of writing the same files at the same time."""
        from filelock import FileLock

        Path(self.processed_dir).parent.mkdir(parents=True, exist_ok=True)
        with FileLock(self.processed_dir + ".lock"):
            super()._process()

    def download(self) -> None:
        raise FileNotFoundError(
            f"{type(self).__name__}: raw files not found: "
            f"{[p for p in self.raw_paths if not os.path.exists(p)]}")

    # ------------------------------------------------------------------ processing
    def _entries(self) -> list[Entry]:
        """The entries (:class:`~cft_pyg.data.entries.Entry`, or tuples of its fields)."""
        raise NotImplementedError

    def process(self) -> None:
        start = time.perf_counter()
        cpu_start = cpu_seconds()
        entries = [Entry(*entry) for entry in self._entries()]
        if self.max_rows is not None:
            entries = entries[:self.max_rows]
        if self.sample is not None and self.sample < len(entries):
            entries = [entries[i] for i in sample_indices(len(entries), self.sample,
                                                          self.sample_seed)]
        check = self.options["space_group_check"]
        every = bool(self.available_targets)  # the cache serves every target
        jobs = [Job(i, entry, self.featurization, check, every)
                for i, entry in enumerate(entries)]
        label = f"{type(self).__name__}({self.split_name})"
        results = list(parallel_map(
            convert_entry, jobs, num_workers=self.num_workers,
            use_pool=self.num_workers > 1 and len(jobs) >= _POOL_MIN_ROWS, desc=label,
            log=self.log, chunksize=16))
        data_list: list[Data] = []
        skipped: list[tuple[str, str, str]] = []
        disagreements: list[tuple[str, int, int]] = []
        for result in results:
            if isinstance(result, Skipped):
                skipped.append((result.entry_id, str(result.reason), result.message))
                continue
            data = arrays_to_data(result.arrays)
            detected = int(data.space_group[0])
            declared = result.declared
            if check == "report" and declared is not None and declared != detected:
                disagreements.append((result.entry_id, int(declared), detected))
            if self.pre_filter is not None and not self.pre_filter(data):
                skipped.append((result.entry_id, str(SkipReason.PRE_FILTER),
                                "rejected by pre_filter"))
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
        cpu = cpu_seconds() - cpu_start
        with open(os.path.join(self.processed_dir, "space_group_disagreements.csv"), "w",
                  newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["id", "declared", "detected"])
            writer.writerows(disagreements)
        meta = {
            "dataset": type(self).__name__, "split": self.split_name,
            "targets": self.stored_targets,
            "options": self.options, "max_rows": self.max_rows,
            "sample": None if self.sample is None else [self.sample, self.sample_seed],
            "entries": len(jobs),
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
        self._select_targets()
        if self.skipped:
            counts = Counter(reason.split(":")[0] for _, reason in self.skipped)
            summary = ", ".join(f"{n} {reason}" for reason, n in counts.most_common())
            warnings.warn(
                f"{type(self).__name__}({self.split_name}): skipped {len(self.skipped)} of "
                f"{self.meta.get('entries', '?')} entries ({summary}); see "
                f"{self.processed_paths[1]} or .skipped", stacklevel=3)
        if self.disagreements and self.log:
            print(f"{type(self).__name__}({self.split_name}): {len(self.disagreements)} "
                  f"crystals whose detected space group differs from the declared one (kept "
                  f"with the detected group); see .disagreements")
