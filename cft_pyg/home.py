"""The one cache root of cft-pyg (as PyG's ``torch_geometric.home``).

Everything cft-pyg writes on its own (the precomputed bases of :func:`cft_pyg.load_bases`,
the synthetic dataset, processed copies of datasets whose folder is read-only) goes below
:func:`get_home_dir`:

1. the folder given to :func:`set_home_dir`, if any;
2. else ``$CFT_PYG_HOME`` (``~`` is expanded);
3. else :data:`DEFAULT_HOME` (``~/.cache/cft_pyg``).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DEFAULT_HOME", "ENV_HOME", "get_home_dir", "set_home_dir"]

ENV_HOME = "CFT_PYG_HOME"
"""The environment variable that sets the cache root."""
DEFAULT_HOME = "~/.cache/cft_pyg"
"""The cache root when neither :func:`set_home_dir` nor ``$CFT_PYG_HOME`` is set."""

_home_dir: Path | None = None


def get_home_dir() -> Path:
    """The cache root of cft-pyg (see the module docstring for the order of look-up).

    Returns:
        The folder (not created here).
    """
    if _home_dir is not None:
        return _home_dir
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser()
    return Path(DEFAULT_HOME).expanduser()


def set_home_dir(path: str | os.PathLike[str] | None) -> None:
    """Set the cache root for this process (``None`` goes back to the environment/default).

    Args:
        path: The folder (``~`` is expanded), or ``None``.
    """
    global _home_dir
    _home_dir = None if path is None else Path(path).expanduser()
