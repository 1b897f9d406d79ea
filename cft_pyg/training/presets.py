"""Named presets of settings dataclasses: the one preset mechanism of cft-pyg.

Every settings class (:class:`~cft_pyg.training.TrainConfig`, the demo's, the experiments')
inherits :class:`Presets` and lists its presets in ``PRESETS``: name -> the values that
differ from the class defaults. ``Cls.from_preset(name, **changes)`` builds one, the command
lines expose the names as ``--preset NAME`` (and the same layering everywhere: class
defaults <- preset <- config file <- flags).

.. code-block:: python

    TrainConfig.from_preset("quick", dataset="mp20")
    DemoSettings.from_preset("quick")
    AblationSettings.from_preset("full", carbon_root=..., mp20_root=...)
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, ClassVar, TypeVar

__all__ = ["Presets", "UnknownPresetError", "setting"]

T = TypeVar("T", bound="Presets")


class UnknownPresetError(ValueError):
    """A preset name that the settings class does not define (the message lists them)."""


class Presets:
    """Mixin of settings dataclasses with named presets.

    Subclasses set ``PRESETS: ClassVar[dict[str, dict[str, Any]]]``; ``"default"`` (the
    class defaults) is always available. A dataclass field named ``label`` is set to the
    preset's name unless given.
    """

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {}

    @classmethod
    def preset_names(cls) -> list[str]:
        """Names accepted by :meth:`from_preset` (``'default'`` first)."""
        return ["default", *[n for n in cls.PRESETS if n != "default"]]

    @classmethod
    def preset_values(cls, name: str) -> dict[str, Any]:
        """The values preset ``name`` sets (a deep copy; ``{}`` for ``'default'``).

        Raises:
            UnknownPresetError: no such preset.
        """
        if name != "default" and name not in cls.PRESETS:
            raise UnknownPresetError(f"unknown preset {name!r} of {cls.__name__}; known: "
                                     f"{', '.join(cls.preset_names())}")
        return copy.deepcopy(cls.PRESETS.get(name, {}))

    @classmethod
    def from_preset(cls: type[T], name: str = "default", **changes: Any) -> T:
        """Settings of preset ``name`` with ``changes`` applied on top."""
        values = cls.preset_values(name)
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        if "label" in names and "label" not in changes and "label" not in values:
            values["label"] = name if name != "default" else "custom"
        values.update(changes)
        return cls(**values)


def setting(default: Any, help: str, metavar: str | None = None, *,
            choices: tuple[str, ...] | None = None, flags: tuple[str, ...] | None = None) -> Any:
    """A settings field with its command-line description in ``metadata``: the flags of
    ``cft-pyg train`` and ``cft-pyg demo`` are generated from these
    (:func:`cft_pyg.training.flags.add_config_options`), so a setting is defined once.

    Args:
        default: the default, or a factory (``dict``, ``list``, a lambda) for a mutable
            default.
        help: one line for ``--help``.
        metavar: placeholder of the value in ``--help``.
        choices: the accepted values.
        flags: flag names (default ``--<name-with-dashes>``; a boolean gets ``--no-...``).
    """
    metadata = {"help": help, "metavar": metavar, "choices": choices, "flags": flags}
    if callable(default):
        return dataclasses.field(default_factory=default, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)
