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

from xrayssl.errors import XraySSLError

NONE_WORDS = ("none", "null")


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
            raise XraySSLError(f"{where}: {value!r} is not one of {', '.join(map(str, get_args(tp)))}")
        return value
    if tp is bool and not isinstance(value, bool):
        raise XraySSLError(f"{where}: expected true or false, got {value!r}")
    if tp is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise XraySSLError(f"{where}: expected a whole number, got {value!r}")
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise XraySSLError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:  # numbers are fine as text (devices: 2, budget: 90)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise XraySSLError(f"{where}: expected text, got {value!r}")
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
            raise XraySSLError(f"{where}: expected a list, got {value!r}")
        item = get_args(inner)[0] if get_args(inner) else Any
        return [check_value(v, item, where) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise XraySSLError(f"{where}: expected a mapping, got {value!r}")
        return value
    if isinstance(value, str) and inner in (int, float):  # YAML reads 1e-3 as text; it is a number
        with contextlib.suppress(ValueError):
            value = inner(value)
    return _scalar(value, inner, where)


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
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise XraySSLError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise XraySSLError(f"{path}: cannot read the config file ({exc})") from None
    except yaml.YAMLError as exc:
        raise XraySSLError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    if isinstance(data, dict) and "run_format_version" in data and isinstance(data.get("config"), dict):
        data = data["config"]  # a run folder's config.json: repeat that run
    if not isinstance(data, dict):
        raise XraySSLError(f"{path}: expected a mapping of settings at the top level")
    return check_settings(data, cls, str(path))


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` wins; dicts (the study's pretrain settings) merge one level down."""
    out = dict(base)
    for key, value in over.items():
        out[key] = {**out[key], **value} if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out
