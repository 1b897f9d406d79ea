r"""What every study shares: its base settings, the run (jobs through the one pool, an
append-only log, resume), the results file, and a command line generated from its settings.

A study is a thin module that defines a :class:`StudySettings` subclass (its fields declared
with :func:`cft_pyg.training.presets.setting`, so every field is a flag) and a
:class:`Study`: the jobs of the settings, one job, the key of a finished run, and the
summary. :func:`run_study` and :func:`study_main` do the rest the same way for all::

    python -m studies.<study> --preset quick --output-dir out [--resume]
    python -m studies.<study> --summarize-only     # rewrite the JSON from the log
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cft_pyg.home import get_home_dir
from cft_pyg.training.presets import Presets, setting

from .jobs import pending, read_runs, recorded, run_logged

__all__ = ["Study", "StudySettings", "default_root", "environment", "parse_study_args",
           "run_study", "study_main", "study_parser", "write_json"]


def default_root(dataset: str) -> str:
    """``$CFT_PYG_MP20`` / ``$CFT_PYG_CARBON24``, else ``<home>/mp_20`` / ``<home>/carbon_24``
    (:func:`cft_pyg.home.get_home_dir`)."""
    folder = {"mp20": "mp_20", "carbon24": "carbon_24"}[dataset]
    return os.environ.get(f"CFT_PYG_{dataset.upper()}") or str(get_home_dir() / folder)


@dataclass
class StudySettings(Presets):
    """The settings every study has (presets ``'full'``, the README's figures, and
    ``'quick'``, seconds per run for tests)."""

    output_dir: str = setting("studies/results", "where the JSON, the run log and figures go",
                              "DIR")
    work_dir: str | None = setting(None, "run folders (default: a temporary folder)", "DIR")
    jobs: int = setting(2, "trainings in parallel, one torch thread each")
    quick: bool = setting(False, "run the catalog's quick models (set by --preset quick)")
    label: str = setting("custom", "preset name, recorded in the JSON")

    def workdir(self) -> Path:
        """``work_dir``, or a new temporary folder (remembered)."""
        if self.work_dir is None:
            self.work_dir = tempfile.mkdtemp(prefix="cft-study-")
        path = Path(self.work_dir)
        path.mkdir(parents=True, exist_ok=True)
        return path


@dataclass
class Study:
    """How a study runs: its name (``<name>.json``, ``<name>_runs.jsonl``), the jobs of its
    settings, one job, the key of a finished run (the same as :attr:`job_key` of its job),
    a line per finished run, the results payload from the runs, data to prepare once
    before the workers fork, and the files derived from the payload (figures)."""

    name: str
    jobs: Callable[[Any], list[Any]]
    run_job: Callable[[Any, Any], dict[str, Any]]
    run_key: Callable[[dict[str, Any]], Hashable]
    job_key: Callable[[Any], Hashable]
    describe: Callable[[dict[str, Any]], str]
    results: Callable[[Any, list[dict[str, Any]]], dict[str, Any]]
    prepare: Callable[[Any], None] = lambda settings: None
    extra: Callable[[dict[str, Any], Path], None] = lambda payload, out: None


def environment(jobs: int) -> dict[str, Any]:
    """Machine, versions and load of a run."""
    import torch

    return {"platform": platform.platform(), "python": platform.python_version(),
            "torch": torch.__version__, "cpu_count": os.cpu_count(), "threads_per_job": 1,
            "jobs": jobs, "loadavg_end": list(os.getloadavg()),
            "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def write_json(path: Path, payload: dict[str, Any], compact: bool = False) -> None:
    """Write ``payload`` atomically (``compact``: no indentation, for large files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    text = (json.dumps(payload, separators=(",", ":")) if compact
            else json.dumps(payload, indent=1))
    tmp.write_text(text + "\n")
    tmp.replace(path)


class _Job:
    """A picklable ``job -> study.run_job(settings, job)`` for the pool.

    Only ``run_job`` (a module-level function) and the settings travel to the workers: the
    other fields of a :class:`Study` may be lambdas, which cannot be pickled."""

    def __init__(self, study: Study, settings: Any) -> None:
        self.run_job, self.settings = study.run_job, settings

    def __call__(self, job: Any) -> dict[str, Any]:
        return self.run_job(self.settings, job)


def finish(study: Study, settings: Any, runs: list[dict[str, Any]],
           seconds: float | None) -> dict[str, Any]:
    """The results payload of ``runs`` (also a partial list: the jobs without a run are
    listed under ``missing``), written to ``<output>/<name>.json`` with its figures."""
    out = Path(settings.output_dir)
    have = {study.run_key(r) for r in runs}
    missing = [study.job_key(j) for j in study.jobs(settings) if study.job_key(j) not in have]
    payload = {"settings": dataclasses.asdict(settings),
               "command": f"python -m studies.{study.name} --preset "
                          f"{settings.label} ...",
               "total_seconds": seconds, "complete": not missing,
               "missing": [list(m) if isinstance(m, tuple) else m for m in missing],
               "machine": environment(settings.jobs), **study.results(settings, runs)}
    write_json(out / f"{study.name}.json", payload)
    study.extra(payload, out)
    return payload


def run_study(study: Study, settings: Any, *, resume: bool = False,
              echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every job of ``settings`` that the log does not hold yet (all of them unless
    ``resume``), append each run to ``<output>/<name>_runs.jsonl``, write the results."""
    out = Path(settings.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings.workdir()
    log = out / f"{study.name}_runs.jsonl"
    done, todo = pending(log, study.jobs(settings), study.run_key, study.job_key, resume)
    study.prepare(settings)  # process the data once; forked workers share it
    echo(f"{study.name}: {len(todo)} jobs on {settings.jobs} worker(s) ({len(done)} already "
         f"done); runs appended to {log}")
    start = time.perf_counter()
    runs = list(done) + run_logged(_Job(study, settings), todo, settings.jobs, log,
                                   append=bool(done), describe=study.describe, echo=echo)
    return finish(study, settings, runs, time.perf_counter() - start)


def summarize_only(study: Study, settings: Any) -> dict[str, Any]:
    """Rewrite ``<name>.json`` from the run log, training nothing (the recorded wall time is
    kept)."""
    out = Path(settings.output_dir)
    return finish(study, settings, read_runs(out / f"{study.name}_runs.jsonl"),
                  recorded(out / f"{study.name}.json", "total_seconds"))


def study_parser(study: Study, settings_cls: type, description: str = ""
                 ) -> argparse.ArgumentParser:
    """The parser of a study's command line: ``--preset`` (``--quick``/``--full`` for
    short), one flag per settings field, ``--resume`` and ``--summarize-only``."""
    from cft_pyg.training.flags import add_config_options

    p = argparse.ArgumentParser(prog=f"python -m studies.{study.name}",
                                description=description)
    presets = p.add_mutually_exclusive_group()
    presets.add_argument("--preset", choices=settings_cls.preset_names(), default="full",
                         help="named settings (default full: the README's figures)")
    presets.add_argument("--quick", dest="preset", action="store_const", const="quick",
                         help="same as --preset quick (seconds per run)")
    presets.add_argument("--full", dest="preset", action="store_const", const="full",
                         help="same as --preset full")
    p.add_argument("--resume", action="store_true",
                   help="keep the runs already in <output-dir>/<study>_runs.jsonl, run the rest")
    p.add_argument("--summarize-only", action="store_true",
                   help="rewrite <output-dir>/<study>.json from the run log; train nothing")
    add_config_options(p, settings_cls,
                       only=[f.name for f in dataclasses.fields(settings_cls)
                             if f.name not in ("label", "quick")])
    return p


def parse_study_args(study: Study, settings_cls: type, argv: Sequence[str] | None,
                     description: str = "") -> tuple[Any, bool, bool]:
    """``(settings, resume, summarize_only)`` of a study's command line."""
    args = vars(study_parser(study, settings_cls, description).parse_args(argv))
    preset = args.pop("preset")
    resume, only = args.pop("resume"), args.pop("summarize_only")
    return settings_cls.from_preset(preset, **args), resume, only


def study_main(study: Study, settings_cls: type, argv: Sequence[str] | None,
               description: str, print_summary: Callable[[dict[str, Any]], None]) -> int:
    """Run a study from its command line (:func:`study_parser`)."""
    settings, resume, only = parse_study_args(study, settings_cls, argv, description)
    payload = summarize_only(study, settings) if only else run_study(study, settings,
                                                                     resume=resume)
    if payload["missing"]:
        print(f"incomplete: {len(payload['missing'])} jobs missing: {payload['missing']}")
    print_summary(payload)
    return 0
