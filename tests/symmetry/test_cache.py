"""Disk cache of the 230 bases: round trip, key, corrupt and stale files, concurrent writers."""

from __future__ import annotations

import functools
import json
import multiprocessing
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import cft_pyg
import cft_pyg._version
from cft_pyg import SymmetryAdaptedBasis, load_bases
from cft_pyg.home import get_home_dir
from cft_pyg.symmetry import cache

SMALL = 2.0  # a cheap cutoff for the file-handling tests


def _assert_same(a: SymmetryAdaptedBasis, b: SymmetryAdaptedBasis) -> None:
    assert a.group == b.group
    assert a.num_functions == b.num_functions
    np.testing.assert_array_equal(a.frequencies.freq, b.frequencies.freq)
    for field in ("freq", "orbit", "phase_12", "orbit_size", "conjugate_orbit"):
        np.testing.assert_array_equal(getattr(a.routing, field), getattr(b.routing, field))
    for name in ("entry_function", "entry_freq", "entry_phase_24", "entry_weight"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


@functools.cache
def _fresh(cutoff: float) -> tuple[SymmetryAdaptedBasis, ...]:
    """All 230 bases built directly (no cache), once per cutoff."""
    return tuple(SymmetryAdaptedBasis(number, cutoff) for number in range(1, 231))


def _assert_all_fresh(bases: list[SymmetryAdaptedBasis], cutoff: float) -> None:
    assert len(bases) == 230
    for number, (b, ref) in enumerate(zip(bases, _fresh(cutoff), strict=True), start=1):
        assert b.group.number == number
        _assert_same(b, ref)


def _load_quietly(cutoff: float, cache_dir: Path) -> list[SymmetryAdaptedBasis]:
    """Load and fail on a rebuild warning (UserWarning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        return load_bases(cutoff, cache_dir=cache_dir, progress=False)


@pytest.fixture
def no_build(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args, **kwargs):
        raise AssertionError("the cache was rebuilt instead of read")

    monkeypatch.setattr(cache, "_build_routings", fail)


def test_round_trip_equals_fresh_build_r5(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = load_bases(5.0, cache_dir=tmp_path, progress=False)
    path = cache.cache_path(5.0, tmp_path)
    assert path.is_file()
    monkeypatch.setattr(cache, "_build_routings", lambda *a, **k: pytest.fail("rebuilt"))
    loaded = _load_quietly(5.0, tmp_path)
    _assert_all_fresh(loaded, 5.0)
    for a, b in zip(built, loaded, strict=True):
        _assert_same(a, b)
    assert loaded[0].num_functions == 514 and loaded[224].num_functions == 9
    x = torch.rand(16, 3, dtype=torch.float64)
    torch.testing.assert_close(loaded[13](x), SymmetryAdaptedBasis(14, 5.0)(x), rtol=0, atol=0)


def test_file_is_plain_arrays_with_header(tmp_path: Path) -> None:
    load_bases(SMALL, cache_dir=tmp_path, progress=False)
    path = cache.cache_path(SMALL, tmp_path)
    with np.load(path, allow_pickle=False) as npz:  # no pickled objects inside
        header = json.loads(str(npz["header"][()]))
        assert all(npz[name].dtype == np.int64 for name in npz.files if name != "header")
    assert header["version"] == cft_pyg.__version__
    assert header["cutoff"] == float(SMALL).hex()
    assert header["format"] == cache.CACHE_FORMAT_VERSION
    assert len(header["sha256"]) == 64
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def test_key_includes_cutoff_version_and_format(monkeypatch: pytest.MonkeyPatch) -> None:
    base = cache.cache_path(5.0, "/somewhere")
    assert base.parent == Path("/somewhere")
    assert cache.cache_path(5, "/somewhere") == base
    assert cache.cache_path(5.5, "/somewhere") != base
    assert cache.cache_path(5.000000001, "/somewhere") != base
    assert cft_pyg.__version__ in base.name
    assert f"f{cache.CACHE_FORMAT_VERSION}" in base.name
    monkeypatch.setattr(cft_pyg._version, "__version__", "9.9.9")  # its one owner
    assert cache.cache_path(5.0, "/somewhere") != base
    assert "9.9.9" in cache.cache_path(5.0, "/somewhere").name


def test_default_dir_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CFT_PYG_CACHE", raising=False)
    monkeypatch.setenv("CFT_PYG_HOME", str(tmp_path / "env"))
    assert get_home_dir() == tmp_path / "env"
    assert cache.cache_path(3.0).parent == tmp_path / "env"
    monkeypatch.delenv("CFT_PYG_HOME")
    assert get_home_dir() == Path.home() / ".cache" / "cft_pyg"


@pytest.fixture(scope="module")
def small_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid cache file at the small cutoff, built once; tests copy it."""
    root = tmp_path_factory.mktemp("valid")
    load_bases(SMALL, cache_dir=root, progress=False)
    return cache.cache_path(SMALL, root)


def _expect_rebuild(cutoff: float, cache_dir: Path, match: str) -> None:
    with pytest.warns(UserWarning, match=match):
        bases = load_bases(cutoff, cache_dir=cache_dir, progress=False)
    _assert_all_fresh(bases, cutoff)
    # the file was replaced by a valid one: the next load reads it silently
    _load_quietly(cutoff, cache_dir)


def _corrupt_truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _corrupt_garbage(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())


def _corrupt_empty(path: Path) -> None:
    path.write_bytes(b"")


def _rewrite(path: Path, edit, *, fix_checksum: bool) -> None:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name].copy() for name in npz.files if name != "header"}
        header = json.loads(str(npz["header"][()]))
    edit(arrays)
    if fix_checksum:
        header["sha256"] = cache._checksum(arrays)
    np.savez(path, header=np.array(json.dumps(header)), **arrays)


def _corrupt_flip_phase(path: Path) -> None:
    def edit(a):
        a["phase_12"][10] = (a["phase_12"][10] + 1) % 12

    _rewrite(path, edit, fix_checksum=False)


def _corrupt_wrong_arrays_valid_checksum(path: Path) -> None:
    def edit(a):
        a["conjugate_orbit"][:] = 0  # not an involution

    _rewrite(path, edit, fix_checksum=True)


def _corrupt_wrong_sizes_valid_checksum(path: Path) -> None:
    def edit(a):
        a["orbit_size"][0] += 1

    _rewrite(path, edit, fix_checksum=True)


def _corrupt_missing_array(path: Path) -> None:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files if name != "orbit"}
    np.savez(path, **arrays)


def _corrupt_object_array(path: Path) -> None:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays["orbit"] = np.array([{"evil": 1}], dtype=object)
    np.savez(path, **arrays)


@pytest.mark.parametrize(
    ("corrupt", "match"),
    [
        (_corrupt_truncate, "unreadable"),
        (_corrupt_garbage, "unreadable"),
        (_corrupt_empty, "unreadable"),
        (_corrupt_flip_phase, "checksum"),
        (_corrupt_wrong_arrays_valid_checksum, "involution"),
        (_corrupt_wrong_sizes_valid_checksum, "orbit sizes"),
        (_corrupt_missing_array, "unexpected arrays"),
        (_corrupt_object_array, "unreadable"),
    ],
)
def test_corrupt_file_is_rebuilt(small_cache: Path, tmp_path: Path, corrupt, match: str) -> None:
    path = tmp_path / small_cache.name
    shutil.copy(small_cache, path)
    corrupt(path)
    _expect_rebuild(SMALL, tmp_path, f"rebuilding the basis cache .*{match}")


def test_stale_version_is_rebuilt(
    small_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_dir = tmp_path / "old"
    with monkeypatch.context() as m:
        m.setattr(cft_pyg._version, "__version__", "0.0.1-old")
        load_bases(SMALL, cache_dir=old_dir, progress=False)
        old_file = cache.cache_path(SMALL, old_dir)
    # a new version does not even look at the old file ...
    assert cache.cache_path(SMALL, old_dir) != old_file
    # ... and an old file under the current name (copied, renamed) is not trusted
    shutil.copy(old_file, cache.cache_path(SMALL, tmp_path))
    _expect_rebuild(SMALL, tmp_path, "stale cache: header version")


def test_stale_cutoff_is_rebuilt(small_cache: Path, tmp_path: Path) -> None:
    other = 1.5
    shutil.copy(small_cache, cache.cache_path(other, tmp_path))
    _expect_rebuild(other, tmp_path, "stale cache: header cutoff")


def test_rebuild_flag_rewrites(small_cache: Path, tmp_path: Path) -> None:
    path = tmp_path / small_cache.name
    shutil.copy(small_cache, path)
    path.write_bytes(path.read_bytes())
    mtime = path.stat().st_mtime_ns
    bases = load_bases(SMALL, cache_dir=tmp_path, rebuild=True, progress=False)
    assert path.stat().st_mtime_ns >= mtime
    _assert_same(bases[200], SymmetryAdaptedBasis(201, SMALL))


def test_reads_without_rebuilding(small_cache: Path, no_build: None) -> None:
    bases = _load_quietly(SMALL, small_cache.parent)
    _assert_same(bases[166], SymmetryAdaptedBasis(167, SMALL))


def test_unwritable_directory_warns_and_still_returns(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    with pytest.warns(UserWarning, match="could not write the basis cache"):
        bases = load_bases(SMALL, cache_dir=blocker / "sub", progress=False)
    assert len(bases) == 230


def test_progress_bar(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    load_bases(1.0, cache_dir=tmp_path, progress=True)
    assert "space-group bases" in capfd.readouterr().err
    load_bases(1.0, cache_dir=tmp_path / "quiet", progress=False)
    assert "space-group bases" not in capfd.readouterr().err


@pytest.mark.parametrize("cutoff", [0.0, -1.0, float("nan"), float("inf"), "5"])
def test_bad_cutoff(cutoff: object, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cutoff must be a positive"):
        load_bases(cutoff, cache_dir=tmp_path)  # type: ignore[arg-type]


def _writer(cache_dir: str, use_lock: bool, rounds: int) -> None:
    """Child process: rebuild and overwrite the cache ``rounds`` times, reading in between.

    A read that meets a partial or corrupt file (the other writer's) would warn and
    rebuild; the warning is an error here, so the child's exit code reports it.
    """
    torch.set_num_threads(1)
    warnings.simplefilter("error", UserWarning)
    from cft_pyg.symmetry import cache as child_cache

    if not use_lock:  # exercise the atomic temp-file + os.replace path alone
        child_cache._lock = lambda path: None
    for _ in range(rounds):
        child_cache.load_bases(SMALL, cache_dir=cache_dir, rebuild=True, progress=False)
        for _ in range(3):
            child_cache.load_bases(SMALL, cache_dir=cache_dir, progress=False)


def test_concurrent_writers_leave_a_valid_cache(tmp_path: Path) -> None:
    # fork (as torch's DataLoader workers do; the children use one thread) avoids
    # re-importing torch in each child; spawn elsewhere
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), lock, 3)) for lock in (False, True)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0, 0]
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == sorted(
        [cache.cache_path(SMALL, tmp_path).name, cache.cache_path(SMALL, tmp_path).name + ".lock"]
    )
    _assert_all_fresh(_load_quietly(SMALL, tmp_path), SMALL)
