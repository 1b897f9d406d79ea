"""Execution of the project's notebooks with papermill (the comparison's ``notebooks`` part)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["run_notebooks"]


def run_notebooks(notebooks_dir: str | Path, out_dir: str | Path,
                  names: Sequence[str] | None = None,
                  parameters: dict[str, dict[str, Any]] | None = None,
                  log: Callable[[str], None] = print) -> list[Path]:
    """Execute notebooks with their default (full) parameters, in their own folder.

    Notebooks 02 and 03 then read ``../studies/results/benchmark_mp20.json`` /
    ``zeroshot_mp20.json`` relative to ``notebooks_dir``.  The executed copies (with
    outputs) are written to ``out_dir``.

    Args:
        notebooks_dir: folder of the notebooks (``notebooks/`` of a source checkout).
        out_dir: folder of the executed notebooks.
        names: notebook file names (default: all ``*.ipynb`` of ``notebooks_dir``).
        parameters: extra papermill parameters per notebook name.
        log: progress messages.

    Returns:
        Paths of the executed notebooks.

    Raises:
        FileNotFoundError: ``notebooks_dir`` is not a folder.
    """
    import papermill

    src = Path(notebooks_dir)
    if not src.is_dir():
        raise FileNotFoundError(f"notebooks folder not found: {src} (pass --notebooks DIR)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    done = []
    for nb in sorted(names or [p.name for p in src.glob("*.ipynb")]):
        start = time.perf_counter()
        papermill.execute_notebook(str(src / nb), str(out / nb),
                                   parameters=(parameters or {}).get(nb, {}), cwd=str(src),
                                   kernel_name="python3", progress_bar=False)
        log(f"notebook {nb}: {time.perf_counter() - start:.0f} s")
        done.append(out / nb)
    return done
