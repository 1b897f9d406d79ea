"""Key-value files behind a crystal store: LMDB (the default) and SQLite.

Both offer the same small interface (:class:`Backend`): atomic multi-key writes (one
transaction per featurized chunk, so a process killed at any moment leaves either the whole
chunk or none of it), point reads, ordered key iteration by prefix, and **readers that open
lazily in each process** (a ``DataLoader`` worker forked after the dataset was created opens
its own handle: LMDB and SQLite handles must not cross a ``fork``).

Measured side by side in ``benchmarks/bench_store.py`` (bytes per crystal, random reads per
second with 0, 2 and 4 loader workers); LMDB is the default (see
``benchmarks/results/store.json``).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

__all__ = ["BACKENDS", "Backend", "BackendName", "LMDBBackend", "SQLiteBackend",
           "open_backend"]

BackendName = Literal["lmdb", "sqlite"]
BACKENDS: tuple[str, ...] = ("lmdb", "sqlite")
_FILES = {"lmdb": "crystals.lmdb", "sqlite": "crystals.sqlite"}


class Backend:
    """A key-value file (keys and values are bytes) opened for reading or writing.

    Args:
        folder: the store folder; the file is ``crystals.lmdb`` or ``crystals.sqlite``.
        write: open for writing (one writer at a time); readers never lock out each other.
    """

    name: str = ""

    def __init__(self, folder: str | os.PathLike[str], write: bool = False) -> None:
        self.folder = Path(folder)
        self.path = self.folder / _FILES[self.name]
        self.write = write
        if not write and not self.path.exists():
            raise FileNotFoundError(f"no {self.name} crystal store at {self.path}")
        self._pid: int | None = None
        self._handle = None

    # one handle per process, opened on first use
    def _get(self) -> Any:
        if self._pid != os.getpid():
            self._handle = self._open()
            self._pid = os.getpid()
        return self._handle

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_handle"], state["_pid"] = None, None
        return state

    def _open(self) -> Any:
        raise NotImplementedError

    def put_many(self, items: dict[bytes, bytes]) -> None:
        """Write every item in one transaction (all or nothing)."""
        raise NotImplementedError

    def get(self, key: bytes) -> bytes | None:
        """The value of ``key`` (``None`` when absent)."""
        raise NotImplementedError

    def items(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Every ``(key, value)`` whose key starts with ``prefix``, in key order."""
        raise NotImplementedError

    def keys(self, prefix: bytes) -> Iterator[bytes]:
        """Every key starting with ``prefix``, in key order."""
        for key, _ in self.items(prefix):
            yield key

    def close(self) -> None:
        """Close this process's handle."""
        if self._handle is not None and self._pid == os.getpid():
            self._handle.close()
        self._handle, self._pid = None, None

    def compact(self) -> None:
        """Rewrite the file without free pages (after a build)."""

    def file_bytes(self) -> int:
        """Bytes the store's files take on disk."""
        return sum(p.stat().st_size for p in self.folder.glob(self.path.name + "*")
                   if p.is_file())


_LMDB_ENVS: dict[str, tuple[int, bool, int, Any]] = {}
"""Open LMDB environments of this process by path: ``(pid, writable, inode, env)``.  LMDB
allows one environment per file and process, so every :class:`LMDBBackend` of a path shares
it (a writable one serves readers too); a child process opens its own."""


class LMDBBackend(Backend):
    """LMDB (``lmdb`` package): memory-mapped B+tree, lock-free concurrent readers.

    The map is reserved at 1 TiB (address space only; the file grows with the data).
    """

    name = "lmdb"
    MAP_SIZE = 1 << 40

    def _get(self) -> Any:
        try:
            import lmdb
        except ImportError as exc:
            raise ImportError("the LMDB store backend needs the lmdb package: pip install "
                              "lmdb (or pip install cft-pyg[store]), or use backend='sqlite'"
                              ) from exc
        key = str(self.path)
        pid = os.getpid()
        inode = self.path.stat().st_ino if self.path.exists() else -1
        cached = _LMDB_ENVS.get(key)
        if cached is not None and cached[0] == pid and cached[2] == inode \
                and (cached[1] or not self.write):
            return cached[3]
        if cached is not None:
            # this process's old handle, or one inherited through fork (py-lmdb refuses a
            # second handle of a path in a process: the child closes its copy; the parent's
            # handle, in the parent's memory, is untouched)
            cached[3].close()
        if self.write:
            self.folder.mkdir(parents=True, exist_ok=True)
            env = lmdb.open(key, subdir=False, map_size=self.MAP_SIZE, readahead=False,
                            meminit=False, max_dbs=0)
        else:
            env = lmdb.open(key, subdir=False, readonly=True, lock=False, readahead=False,
                            map_size=self.MAP_SIZE, max_readers=512)
        inode = self.path.stat().st_ino
        _LMDB_ENVS[key] = (pid, self.write, inode, env)
        return env

    def close(self) -> None:
        """Close the environment after writing (readers keep the shared one open)."""
        cached = _LMDB_ENVS.get(str(self.path))
        if self.write and cached is not None and cached[0] == os.getpid():
            cached[3].close()
            del _LMDB_ENVS[str(self.path)]

    def put_many(self, items: dict[bytes, bytes]) -> None:
        env = self._get()
        with env.begin(write=True) as txn:
            for key in sorted(items):
                txn.put(key, items[key])

    def get(self, key: bytes) -> bytes | None:
        with self._get().begin(buffers=False) as txn:
            return txn.get(key)

    def items(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        with self._get().begin() as txn:
            cursor = txn.cursor()
            if not cursor.set_range(prefix):
                return
            for key, value in cursor:
                if not key.startswith(prefix):
                    break
                yield bytes(key), bytes(value)

    def compact(self) -> None:
        env = self._get()
        tmp = self.path.with_name(self.path.name + ".compact")
        if tmp.exists():
            tmp.unlink()
        env.copy(str(tmp), compact=True)
        env.close()
        _LMDB_ENVS.pop(str(self.path), None)
        os.replace(tmp, self.path)
        lock = self.path.with_name(self.path.name + "-lock")
        if lock.exists():
            lock.unlink()

    def file_bytes(self) -> int:
        return self.path.stat().st_size


class SQLiteBackend(Backend):
    """SQLite (standard library): one ``WITHOUT ROWID`` table of ``(key, value)`` blobs."""

    name = "sqlite"

    def _open(self) -> Any:
        if self.write:
            self.folder.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) "
                         "WITHOUT ROWID")
            return conn
        return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None,
                               check_same_thread=False)

    def put_many(self, items: dict[bytes, bytes]) -> None:
        conn = self._get()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)",
                             sorted(items.items()))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def get(self, key: bytes) -> bytes | None:
        row = self._get().execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def items(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        upper = prefix[:-1] + bytes([prefix[-1] + 1]) if prefix and prefix[-1] < 255 else None
        if upper is None:
            rows = self._get().execute("SELECT k, v FROM kv WHERE k >= ? ORDER BY k", (prefix,))
        else:
            rows = self._get().execute("SELECT k, v FROM kv WHERE k >= ? AND k < ? ORDER BY k",
                                       (prefix, upper))
        for key, value in rows:
            if not bytes(key).startswith(prefix):
                break
            yield bytes(key), bytes(value)

    def compact(self) -> None:
        conn = self._get()
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.close()


def open_backend(folder: str | os.PathLike[str], backend: str | None = None,
                 write: bool = False) -> Backend:
    """The backend of a store folder (``backend=None``: the one whose file is there).

    Raises:
        ValueError: an unknown backend name.
        FileNotFoundError: reading a folder that holds no store.
    """
    folder = Path(folder)
    if backend is None:
        found = [name for name in BACKENDS if (folder / _FILES[name]).exists()]
        if not found:
            if write:
                backend = "lmdb"
            else:
                raise FileNotFoundError(f"no crystal store in {folder} "
                                        f"(expected {' or '.join(_FILES.values())})")
        else:
            backend = found[0]
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    cls = LMDBBackend if backend == "lmdb" else SQLiteBackend
    return cls(folder, write=write)
