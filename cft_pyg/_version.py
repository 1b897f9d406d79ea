"""The version of cft-pyg (one owner: ``setup.cfg`` and every module read it from here)."""

__version__ = "0.5.0"
