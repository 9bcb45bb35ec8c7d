"""Config files (YAML, or a run folder's config.json) read into the fields of a config dataclass, checked.

A low module (beside ``runs``): the CLI's ``--config`` and the study's YAML use it, and so can a notebook:
``PretrainConfig(**load_config_file("run.yaml", PretrainConfig))``. Keys are the field names (with _ or -);
an unknown key or a value of the wrong type is a one-line error naming the file and the key.
"""

from __future__ import annotations

import contextlib
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from xrayssl.catalog import BOUNDS
from xrayssl.errors import XraySSLError

NONE_WORDS = ("none", "null")
MAX_CONFIG_BYTES = 1 << 20  # a config is a page of settings; anything larger is not one
SHOWN_CHARS = 80  # values quoted in error messages are cut to this length


def shown_value(value: Any) -> str:
    """``repr(value)`` cut to a bounded length: an error message never grows with its input."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else f"{text[: SHOWN_CHARS - 3]}..."


def optional_type(tp: Any) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); anything else -> (tp, False)."""
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], len(args) < len(get_args(tp))
    return tp, False


def split_list(text: str) -> list[str]:
    """'a, b,c' -> ['a', 'b', 'c'] (lists on the command line, or written as text in a file)."""
    return [v.strip() for v in text.split(",") if v.strip()]


def field_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _scalar(value: Any, tp: Any, where: str) -> Any:
    if get_origin(tp) is Literal:
        if value not in get_args(tp):
            raise XraySSLError(f"{where}: {shown_value(value)} is not one of {', '.join(map(str, get_args(tp)))}")
        return value
    if tp is bool and not isinstance(value, bool):
        raise XraySSLError(f"{where}: expected true or false, got {shown_value(value)}")
    if tp is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise XraySSLError(f"{where}: expected a whole number, got {shown_value(value)}")
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise XraySSLError(f"{where}: expected a number, got {shown_value(value)}")
        return float(value)
    if tp is str:  # numbers are fine as text (devices: 2, budget: 90)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise XraySSLError(f"{where}: expected text, got {shown_value(value)}")
        return str(value)
    return value


def check_value(value: Any, tp: Any, where: str) -> Any:
    """A value read from a file, checked against the field's type annotation."""
    inner, optional = optional_type(tp)
    if value is None or (optional and isinstance(value, str) and value.lower() in NONE_WORDS):
        if optional:
            return None
        raise XraySSLError(f"{where}: cannot be empty")
    origin = get_origin(inner)
    if origin in (list, tuple):
        if isinstance(value, str):  # "a,b" as on the command line
            value = split_list(value)
        if not isinstance(value, list | tuple):
            raise XraySSLError(f"{where}: expected a list, got {shown_value(value)}")
        item = get_args(inner)[0] if get_args(inner) else Any
        return [check_value(v, item, where) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise XraySSLError(f"{where}: expected a mapping, got {shown_value(value)}")
        return value
    if isinstance(value, str) and inner in (int, float):  # YAML reads 1e-3 as text; it is a number
        with contextlib.suppress(ValueError):
            value = inner(value)
    return _scalar(value, inner, where)


def check_bounds(config: Any) -> None:
    """Every number of a config dataclass is finite and inside its field's ``metadata["range"]`` (lo, hi),
    either end None for open: NaN and inf are refused everywhere, since no setting means them. Lists of numbers
    are checked item by item. Called from each config's ``__post_init__``."""
    import math

    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        items = value if isinstance(value, list | tuple) else [value]
        for v in items:
            if isinstance(v, bool) or not isinstance(v, int | float):
                continue
            if isinstance(v, float) and not math.isfinite(v):
                raise XraySSLError(f"--{f.name.replace('_', '-')}: {v} is not a number this setting takes")
            lo, hi = f.metadata.get("range") or BOUNDS.get(f.name, (None, None))
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                bounds = f"at least {lo}" if hi is None else f"at most {hi}" if lo is None else f"from {lo} to {hi}"
                raise XraySSLError(f"--{f.name.replace('_', '-')}: {shown_value(v)} is out of range ({bounds})")


def check_settings(data: dict[str, Any], cls: type, where: str) -> dict[str, Any]:
    """Keys (with _ or -) of ``cls``'s fields, values of their types; a field whose metadata names
    ``fields_of`` (the study's ``pretrain``) holds that class's settings and is checked the same way."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    data = {str(k).replace("-", "_"): v for k, v in data.items()}
    extra = sorted(set(data) - set(fields))
    if extra:
        raise XraySSLError(f"{where}: unknown setting(s) {', '.join(extra)}; valid: {', '.join(sorted(fields))}")
    out = {}
    for name, value in data.items():
        out[name] = check_value(value, hints[name], f"{where}: {name}")
        nested = fields[name].metadata.get("fields_of")
        if nested is not None and isinstance(out[name], dict):
            out[name] = check_settings(out[name], nested, f"{where}: {name}")
    return out


def load_config_file(path: str | Path, cls: type) -> dict[str, Any]:
    """A YAML (or JSON) file of ``cls`` settings; a run folder's config.json gives that run's config."""
    try:
        data = _safe_yaml(Path(path))
    except FileNotFoundError:
        raise XraySSLError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise XraySSLError(f"{path}: cannot read the config file ({exc})") from None
    except ValueError as exc:  # yaml.YAMLError, our alias and size refusals
        raise XraySSLError(f"{path}: not valid YAML: {' '.join(str(exc).split())[:200]}") from None
    if isinstance(data, dict) and "run_format_version" in data and isinstance(data.get("config"), dict):
        data = data["config"]  # a run folder's config.json: repeat that run
    if not isinstance(data, dict):
        raise XraySSLError(f"{path}: expected a mapping of settings at the top level")
    return check_settings(data, cls, str(path))


def _safe_yaml(path: Path) -> Any:
    """``yaml.safe_load`` of a bounded file with aliases refused: nested aliases (a "billion laughs") expand a
    few hundred bytes into gigabytes, and no setting needs one."""
    import yaml

    class NoAliases(yaml.SafeLoader):
        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                raise ValueError(f"YAML aliases (*name) are not accepted in config files, line {self.line + 1}")
            return super().compose_node(parent, index)

    with open(path, "rb") as f:
        raw = f.read(MAX_CONFIG_BYTES + 1)
    if len(raw) > MAX_CONFIG_BYTES:
        raise ValueError(f"larger than {MAX_CONFIG_BYTES >> 10} KiB, which no config file needs")
    try:
        return yaml.load(raw.decode("utf-8"), Loader=NoAliases)  # a SafeLoader subclass: no Python tags
    except yaml.YAMLError as exc:
        raise ValueError(str(exc)) from None


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` wins; dicts (the study's pretrain settings) merge one level down."""
    out = dict(base)
    for key, value in over.items():
        out[key] = {**out[key], **value} if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out
