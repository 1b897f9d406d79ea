"""Precompute the symmetry-adapted bases of all 230 space groups and cache them on disk.

:func:`load_bases` returns ``bases`` with ``bases[n - 1]`` the
:class:`~cft_pyg.SymmetryAdaptedBasis` of space group ``n`` (default ITA setting) at a
cutoff ``R``.  The first call builds all 230 groups (constraint graph, orbits, routing)
and writes one ``.npz`` file; later calls only read it and rebuild the modules from the
stored orbit routing (:meth:`SymmetryAdaptedBasis.from_routing`).

File format (plain arrays, loaded with ``allow_pickle=False``):

* ``header``: a JSON string with the format version, ``cft_pyg.__version__``, the cutoff,
  the array names and the SHA-256 checksum of all other arrays;
* per-group routing arrays concatenated over the 230 groups, with offsets:
  ``node_offsets`` ``(231,)`` into ``orbit`` / ``phase_12`` ``(sum N_g,)`` and
  ``orbit_offsets`` ``(231,)`` into ``orbit_size`` / ``conjugate_orbit``
  ``(sum M_g,)``; ``hall_numbers`` ``(230,)``.

The file name holds the cutoff, the library version and the format version, and the
header repeats them: a file of another version or cutoff (stale), or one whose header,
checksum or array structure does not validate (truncated, garbage, wrong arrays) is
**rebuilt, never trusted**.  Writes go to a temporary file in the cache directory that is
then renamed over the target with :func:`os.replace` (atomic on POSIX and Windows), under
a :mod:`filelock` lock when one can be taken, so two processes writing at once always
leave a complete, valid file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np

from ..home import get_home_dir
from .basis import OrbitRouting, SymmetryAdaptedBasis, routing_from_graph
from .constraint_graph import constraint_graph
from .frequencies import DEFAULT_CUTOFF, FrequencySet, ball_frequencies, reference_metric
from .space_group import NUM_SPACE_GROUPS, SpaceGroup

__all__ = ["load_bases", "cache_path", "CACHE_FORMAT_VERSION"]

CACHE_FORMAT_VERSION = 1
"""Bump when the stored arrays or their meaning change."""

_ARRAY_NAMES: tuple[str, ...] = (
    "hall_numbers",
    "node_offsets",
    "orbit",
    "phase_12",
    "orbit_offsets",
    "orbit_size",
    "conjugate_orbit",
)
_LOCK_TIMEOUT_S = 600.0


class CacheError(ValueError):
    """A cache file that does not validate (corrupt, stale or of another layout)."""


def _library_version() -> str:
    from .._version import __version__

    return str(__version__)


def _check_cutoff(cutoff: float) -> float:
    if isinstance(cutoff, bool) or not isinstance(cutoff, (int, float, np.integer, np.floating)):
        raise ValueError(f"cutoff must be a positive number, got {cutoff!r}")
    value = float(cutoff)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"cutoff must be a positive finite number, got {cutoff}")
    return value


def cache_path(cutoff: float = DEFAULT_CUTOFF,
               cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Path of the cache file for ``cutoff`` and the installed library version.

    The name encodes the cutoff exactly (``float.hex``), ``cft_pyg.__version__`` and
    :data:`CACHE_FORMAT_VERSION`, e.g. ``bases_R5_0x1.4000000000000p+2_v0.1.0_f1.npz``.
    """
    value = _check_cutoff(cutoff)
    root = Path(cache_dir).expanduser() if cache_dir is not None else get_home_dir()
    version = "".join(c if c.isalnum() or c in ".-+" else "_" for c in _library_version())
    tag = f"{value:g}".replace(".", "p")
    return root / f"bases_R{tag}_{value.hex()}_v{version}_f{CACHE_FORMAT_VERSION}.npz"


# ---------------------------------------------------------------------------- build
def _frequency_sets(cutoff: float) -> dict[str, FrequencySet]:
    return {m: ball_frequencies(cutoff, m) for m in ("identity", "hexagonal")}


def _build_routings(
    cutoff: float, fsets: dict[str, FrequencySet], progress: bool
) -> list[tuple[SpaceGroup, OrbitRouting]]:
    """Constraint graph, orbits and routing of every group (default settings)."""
    from tqdm.auto import tqdm

    out = []
    numbers = range(1, NUM_SPACE_GROUPS + 1)
    if progress and not sys.stderr.isatty():  # off a terminal: one plain line, no bar
        print(f"cft_pyg: space-group bases R={cutoff:g}: building {len(numbers)} groups",
              file=sys.stderr, flush=True)
    bar = tqdm(
        numbers,
        desc=f"cft_pyg: space-group bases R={cutoff:g}",
        disable=None if progress else True,  # None: only on a terminal
        unit="group",
        leave=False,
    )
    for number in bar:
        group = SpaceGroup(number)
        fset = fsets[reference_metric(number)]
        graph = constraint_graph(group, None, frequencies=fset)
        out.append((group, routing_from_graph(graph, fset)))
    return out


def _pack(routings: list[tuple[SpaceGroup, OrbitRouting]]) -> dict[str, np.ndarray]:
    node_counts = [r.orbit.shape[0] for _, r in routings]
    orbit_counts = [r.num_orbits for _, r in routings]
    return {
        "hall_numbers": np.array([g.hall_number for g, _ in routings], dtype=np.int64),
        "node_offsets": np.concatenate([[0], np.cumsum(node_counts)]).astype(np.int64),
        "orbit": np.concatenate([r.orbit for _, r in routings]).astype(np.int64),
        "phase_12": np.concatenate([r.phase_12 for _, r in routings]).astype(np.int64),
        "orbit_offsets": np.concatenate([[0], np.cumsum(orbit_counts)]).astype(np.int64),
        "orbit_size": np.concatenate([r.orbit_size for _, r in routings]).astype(np.int64),
        "conjugate_orbit": np.concatenate([r.conjugate_orbit for _, r in routings]).astype(
            np.int64
        ),
    }


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in _ARRAY_NAMES:
        arr = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{arr.dtype.str}:{arr.shape}".encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()


def _header(cutoff: float, arrays: dict[str, np.ndarray]) -> dict[str, object]:
    return {
        "format": CACHE_FORMAT_VERSION,
        "version": _library_version(),
        "cutoff": cutoff.hex(),
        "arrays": list(_ARRAY_NAMES),
        "sha256": _checksum(arrays),
    }


def _write(path: Path, cutoff: float, arrays: dict[str, np.ndarray]) -> None:
    """Write atomically: temporary file in the same directory, then :func:`os.replace`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = np.array(json.dumps(_header(cutoff, arrays), sort_keys=True))
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, header=header, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------------------- read
def _read(path: Path, cutoff: float, fsets: dict[str, FrequencySet]) -> dict[str, np.ndarray]:
    """Read and fully validate a cache file; raise :class:`CacheError` if anything is off."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = set(npz.files)
            if names != {"header", *_ARRAY_NAMES}:
                raise CacheError(f"unexpected arrays {sorted(names)}")
            header = json.loads(str(npz["header"][()]))
            arrays = {name: npz[name] for name in _ARRAY_NAMES}
    except CacheError:
        raise
    except (
        OSError,
        ValueError,
        KeyError,
        EOFError,
        zipfile.BadZipFile,
        json.JSONDecodeError,
        UnicodeDecodeError,
        TypeError,
    ) as exc:
        raise CacheError(f"unreadable cache file: {type(exc).__name__}: {exc}") from exc
    expected = {
        "format": CACHE_FORMAT_VERSION,
        "version": _library_version(),
        "cutoff": cutoff.hex(),
        "arrays": list(_ARRAY_NAMES),
    }
    if not isinstance(header, dict):
        raise CacheError("header is not a JSON object")
    for key, value in expected.items():
        if header.get(key) != value:
            raise CacheError(f"stale cache: header {key}={header.get(key)!r}, expected {value!r}")
    for name, arr in arrays.items():
        if arr.dtype != np.int64 or arr.ndim != 1:
            raise CacheError(f"array {name!r} has dtype {arr.dtype} and shape {arr.shape}")
    if header.get("sha256") != _checksum(arrays):
        raise CacheError("checksum mismatch")
    _validate_structure(arrays, fsets)
    return arrays


def _validate_structure(arrays: dict[str, np.ndarray], fsets: dict[str, FrequencySet]) -> None:
    """Check that the arrays describe 230 well-formed orbit routings on the right sets."""
    n = NUM_SPACE_GROUPS
    node_off, orbit_off = arrays["node_offsets"], arrays["orbit_offsets"]
    if (
        arrays["hall_numbers"].shape != (n,)
        or node_off.shape != (n + 1,)
        or orbit_off.shape != (n + 1,)
    ):
        raise CacheError("wrong number of groups")
    expected_hall = [SpaceGroup(number).hall_number for number in range(1, n + 1)]
    if arrays["hall_numbers"].tolist() != expected_hall:
        raise CacheError("Hall numbers differ from the default settings")
    sizes = np.array([len(fsets[reference_metric(number)]) for number in range(1, n + 1)])
    if node_off[0] != 0 or not np.array_equal(np.diff(node_off), sizes):
        raise CacheError("node offsets do not match the frequency sets")
    if orbit_off[0] != 0 or np.any(np.diff(orbit_off) < 0):
        raise CacheError("orbit offsets are not increasing")
    total_nodes, total_orbits = int(node_off[-1]), int(orbit_off[-1])
    if arrays["orbit"].shape != (total_nodes,) or arrays["phase_12"].shape != (total_nodes,):
        raise CacheError("node arrays have the wrong length")
    if arrays["orbit_size"].shape != (total_orbits,) or arrays["conjugate_orbit"].shape != (
        total_orbits,
    ):
        raise CacheError("orbit arrays have the wrong length")
    if np.any((arrays["phase_12"] < 0) | (arrays["phase_12"] >= 12)):
        raise CacheError("phases out of range")
    # per-group checks, vectorized: group id of every node and of every orbit
    m = np.diff(orbit_off)
    node_group = np.repeat(np.arange(n), sizes)
    orbit_group = np.repeat(np.arange(n), m)
    orbit = arrays["orbit"]
    if np.any((orbit < -1) | (orbit >= m[node_group])):
        raise CacheError("orbit index out of range")
    consistent = orbit >= 0
    global_orbit = orbit[consistent] + orbit_off[node_group[consistent]]
    if not np.array_equal(np.bincount(global_orbit, minlength=total_orbits), arrays["orbit_size"]):
        raise CacheError("orbit sizes do not match the orbit labels")
    conj = arrays["conjugate_orbit"]
    if np.any((conj < 0) | (conj >= m[orbit_group])):
        raise CacheError("conjugate orbit out of range")
    global_conj = conj + orbit_off[orbit_group]
    if not np.array_equal(global_conj[global_conj], np.arange(total_orbits)):
        raise CacheError("conjugation is not an involution")


def _unpack(
    arrays: dict[str, np.ndarray], fsets: dict[str, FrequencySet]
) -> list[SymmetryAdaptedBasis]:
    node_off, orbit_off = arrays["node_offsets"], arrays["orbit_offsets"]
    bases = []
    for i in range(NUM_SPACE_GROUPS):
        number = i + 1
        fset = fsets[reference_metric(number)]
        a, b = node_off[i], node_off[i + 1]
        c, d = orbit_off[i], orbit_off[i + 1]
        routing = OrbitRouting(
            freq=fset.freq,
            orbit=arrays["orbit"][a:b],
            phase_12=arrays["phase_12"][a:b],
            orbit_size=arrays["orbit_size"][c:d],
            conjugate_orbit=arrays["conjugate_orbit"][c:d],
        )
        bases.append(SymmetryAdaptedBasis.from_routing(SpaceGroup(number), routing, fset))
    return bases


# ---------------------------------------------------------------------------- public
def load_bases(
    cutoff: float = DEFAULT_CUTOFF,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    rebuild: bool = False,
    progress: bool = True,
) -> list[SymmetryAdaptedBasis]:
    """The symmetry-adapted bases of all 230 space groups at ``cutoff``, cached on disk.

    ``bases[n - 1]`` is ``SymmetryAdaptedBasis(n, cutoff)`` (default ITA setting of group
    ``n``, ball of radius ``cutoff`` in the group's reference metric).  The orbit routings
    are read from the cache file :func:`cache_path` when it exists and validates (header
    with format version, library version and cutoff; SHA-256 checksum; array structure);
    otherwise all groups are built (with a progress bar) and the file is (re)written
    atomically.  A cache directory that cannot be written only costs a warning.

    Args:
        cutoff: ball radius ``R > 0``.
        cache_dir: directory of the cache files (default
            :func:`cft_pyg.home.get_home_dir`: ``$CFT_PYG_HOME`` or ``~/.cache/cft_pyg``).
        rebuild: ignore any existing file, build and overwrite it.
        progress: show a :mod:`tqdm` progress bar while building.

    Returns:
        A list of 230 :class:`SymmetryAdaptedBasis`, index ``n - 1`` for group ``n``.

    Raises:
        ValueError: if ``cutoff`` is not a positive finite number.
    """
    value = _check_cutoff(cutoff)
    path = cache_path(value, cache_dir)
    fsets = _frequency_sets(value)

    if not rebuild:
        arrays = _try_read(path, value, fsets)
        if arrays is not None:
            return _unpack(arrays, fsets)

    lock = _lock(path)
    try:
        if lock is not None and not rebuild:
            # another process may have written the file while we waited for the lock
            arrays = _try_read(path, value, fsets)
            if arrays is not None:
                return _unpack(arrays, fsets)
        routings = _build_routings(value, fsets, progress)
        arrays = _pack(routings)
        try:
            _write(path, value, arrays)
        except OSError as exc:
            warnings.warn(f"could not write the basis cache {path}: {exc}", stacklevel=2)
        return [
            SymmetryAdaptedBasis.from_routing(group, routing, fsets[reference_metric(group.number)])
            for group, routing in routings
        ]
    finally:
        if lock is not None:
            lock.release()


def _try_read(
    path: Path, cutoff: float, fsets: dict[str, FrequencySet]
) -> dict[str, np.ndarray] | None:
    if not path.is_file():
        return None
    try:
        return _read(path, cutoff, fsets)
    except CacheError as exc:
        warnings.warn(f"rebuilding the basis cache {path}: {exc}", stacklevel=3)
        return None


def _lock(path: Path):
    """An acquired :class:`filelock.FileLock` beside ``path``, or ``None`` if impossible."""
    try:
        from filelock import FileLock, Timeout
    except ImportError:  # pragma: no cover - filelock is a dependency; atomic writes suffice
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(path) + ".lock", timeout=_LOCK_TIMEOUT_S)
        lock.acquire()
    except (OSError, Timeout):
        return None
    return lock
