"""Every study command the documentation gives parses with that study's command line, and
its values make valid settings (a renamed flag or a bad value fails here, not for a user)."""

from __future__ import annotations

import importlib
import re
import shlex

import pytest

from studies.kit.study import Study, StudySettings, parse_study_args

from ..conftest import REPO_ROOT

DOCS = ["README.md", "docs/training.md",
        "studies/README.md", "studies/NOTEBOOK.md"]


def _commands() -> list[tuple[str, str]]:
    out = []
    for doc in DOCS:
        text = (REPO_ROOT / doc).read_text()
        for span in re.findall(r"`([^`]+)`", text):
            span = " ".join(span.split())
            m = re.match(r"python -m studies\.(\w+)(.*)", span)
            if m and m.group(1) not in ("kit", "pretrained", "which_model"):  # the tools
                out.append((doc, span))
    return sorted(set(out))


COMMANDS = _commands()


def test_the_documents_give_study_commands() -> None:
    studies = {re.match(r"python -m studies\.(\w+)", c).group(1)
               for _, c in COMMANDS}
    assert {"curves", "transfer", "ablation", "published", "compare"} <= studies


@pytest.mark.parametrize(("doc", "command"), COMMANDS)
def test_documented_study_command_parses(doc: str, command: str) -> None:
    name, _, rest = command.removeprefix("python -m studies.").partition(" ")
    module = importlib.import_module(f"studies.{name}")
    settings_cls = next(v for v in vars(module).values()
                        if isinstance(v, type) and issubclass(v, StudySettings)
                        and v.__module__ == module.__name__)
    assert isinstance(module.STUDY, Study)
    argv = shlex.split(rest.replace("[", "").replace("]", ""))
    settings, _, _ = parse_study_args(module.STUDY, settings_cls, argv)
    assert isinstance(settings, settings_cls)
    from studies.kit.catalog import model_entry

    named = list(settings.model_names()) if hasattr(settings, "model_names") else []
    for m in named + list(getattr(settings, "zs_models", None) or ()):
        model_entry(m)  # every named model is in the catalog


def test_a_wrong_flag_fails() -> None:
    from studies import curves

    with pytest.raises(SystemExit):
        parse_study_args(curves.STUDY, curves.CurveSettings, ["--referencez", "cft"])
    with pytest.raises(KeyError, match="unknown model"):
        test_documented_study_command_parses(
            "x", "python -m studies.curves --models cft,no-such-model")
