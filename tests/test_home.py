"""The one cache root: ``set_home_dir`` > ``$CFT_PYG_HOME`` > ``~/.cache/cft_pyg``."""

from __future__ import annotations

from pathlib import Path

import pytest

from cft_pyg import home


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CFT_PYG_HOME", raising=False)
    monkeypatch.delenv("CFT_PYG_CACHE", raising=False)
    monkeypatch.setattr(home, "_home_dir", None)


def test_default_home() -> None:
    assert home.get_home_dir() == Path.home() / ".cache" / "cft_pyg"


def test_environment_variable_expands_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CFT_PYG_HOME", "~/somewhere")
    assert home.get_home_dir() == Path.home() / "somewhere"


def test_set_home_dir_wins_and_resets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CFT_PYG_HOME", str(tmp_path / "env"))
    home.set_home_dir(tmp_path / "set")
    assert home.get_home_dir() == tmp_path / "set"
    home.set_home_dir(None)
    assert home.get_home_dir() == tmp_path / "env"


def test_every_cache_uses_the_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from cft_pyg.data.synthetic import SyntheticCrystals
    from cft_pyg.symmetry.cache import cache_path

    monkeypatch.setenv("CFT_PYG_HOME", str(tmp_path))
    assert cache_path(3.0).parent == tmp_path
    ds = SyntheticCrystals(num_crystals=2, num_workers=0, log=False)
    assert Path(ds.root) == tmp_path / "synthetic"
