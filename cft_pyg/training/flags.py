"""Command-line flags generated from a settings dataclass (:class:`TrainConfig`,
``DemoSettings``, ...): one flag per field, with the help, metavar and choices of
:func:`cft_pyg.training.presets.setting`, so a setting is defined once and a flag, a YAML
file and Python agree.  Used by :mod:`cft_pyg.cli`; imports nothing heavy."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

__all__ = ["add_config_options", "config_options", "json_mapping", "positive_int"]


def json_mapping(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON ({err}): {text!r}") from err
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object like '{{\"channels\": 64}}', "
                                         f"got {text!r}")
    return value


def _int_list(text: str) -> list[int]:
    try:
        return [int(t) for t in text.replace(",", " ").split()]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected integers like '2,10,47', got {text!r}") from err


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from err
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _devices(text: str) -> Any:
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        return text  # e.g. "0,1" (Lightning parses device lists)


def _cli_type(cls: type, name: str, annotation: str) -> Any:
    """Parser of a flag's text for field ``name`` of settings class ``cls``: JSON for
    mappings, comma lists for integer lists, then pydantic's check and coercion against the
    field's annotation (``--epochs 2.5`` is refused, ``--lr 1e-3`` is a float)."""
    if annotation.startswith("dict"):
        return json_mapping
    if annotation.startswith("list[int]"):
        return _int_list
    if annotation.startswith("tuple["):
        return _tuple_of(cls, name)
    if annotation == "Any":
        return _devices

    def parse(text: str) -> Any:
        import typing

        from pydantic import TypeAdapter, ValidationError

        hint = typing.get_type_hints(cls)[name]
        value: Any = None if text.lower() == "none" and "None" in annotation else text
        try:
            return TypeAdapter(hint).validate_python(value)
        except ValidationError as err:
            raise argparse.ArgumentTypeError(f"{err.errors()[0]['msg']} (got {text!r})"
                                             ) from None

    parse.__name__ = annotation  # argparse names the type in some messages
    return parse


def _tuple_of(cls: type, name: str) -> Any:
    """Parser of a tuple field: comma- or space-separated items, checked by pydantic."""

    def parse(text: str) -> Any:
        import typing

        from pydantic import TypeAdapter, ValidationError

        items = [t for t in text.replace(",", " ").split() if t]
        try:
            return TypeAdapter(typing.get_type_hints(cls)[name]).validate_python(items)
        except ValidationError as err:
            raise argparse.ArgumentTypeError(f"{err.errors()[0]['msg']} (got {text!r})"
                                             ) from None

    parse.__name__ = "list"
    return parse


def config_options(cls: type, only: Sequence[str] | None = None) -> list[tuple[str, ...]]:
    """``(field, flags...)`` of the command-line options generated from a config dataclass
    (every field, or those in ``only``); see :func:`add_config_options`."""
    import dataclasses

    rows = []
    for f in dataclasses.fields(cls):
        if only is not None and f.name not in only:
            continue
        flags = f.metadata.get("flags") or ("--" + f.name.replace("_", "-"),)
        rows.append((f.name, *flags))
    return rows


def add_config_options(p: argparse.ArgumentParser, cls: type,
                       only: Sequence[str] | None = None) -> None:
    """Add one flag per field of the config dataclass ``cls`` (e.g. :class:`TrainConfig`),
    generated from its definition: name (``--batch-size`` for ``batch_size``), help, metavar
    and choices from the field's metadata, the default from the field, ``--x/--no-x`` for
    booleans, JSON for mappings, comma lists for integer lists. Values are checked and
    coerced by the config class itself, so a flag, a YAML file and Python agree."""
    import dataclasses

    for f in dataclasses.fields(cls):
        if only is not None and f.name not in only:
            continue
        meta = f.metadata
        flags = meta.get("flags") or ("--" + f.name.replace("_", "-"),)
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else repr(default)
        help_text = f"{meta.get('help', '')} (default {shown})".strip()
        kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS,
                                  "help": help_text}
        if str(f.type) == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            if meta.get("metavar"):
                kwargs["metavar"] = meta["metavar"]
            if meta.get("choices"):
                kwargs["choices"] = list(meta["choices"])
            kwargs["type"] = _cli_type(cls, f.name, str(f.type))
        p.add_argument(*flags, **kwargs)
