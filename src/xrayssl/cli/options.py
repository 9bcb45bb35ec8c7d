"""Flags, help and config files generated from the config dataclasses, so that every default is written once.

Each dataclass field becomes one ``--kebab-name`` flag: its type comes from the annotation (int, float, str,
bool as ``--x/--no-x``, ``X | None`` where ``none`` gives None, lists as comma lists, ``dict[str, str]`` as
repeatable ``NAME=VALUE``, ``Literal`` as choices), its help from ``field(metadata={"help": ...})`` and the
default shown in the help from the field itself. Flags default to *absent* (argparse.SUPPRESS): only the
flags actually typed reach the config, so the order of precedence is flags > ``--config FILE`` > the
dataclass's defaults, and no default is copied into the parser. Optional metadata: ``"flags"`` (extra
option strings, e.g. ``--bootstrap`` for ``n_boot``), ``"default"`` (the default as words, where a rule of
the dataclass decides it), ``"fields_of"`` (a dict field holding another config's fields, checked in files),
``"repeat"`` (a list flag that adds to the list each time it is given: ``--body-part a --body-part b``),
``"choices"`` (an enumeration: argparse's choices, listed in the help of a comma-list flag). A field with no
default says so in its help: ``(required: here or in --config)``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing
from collections.abc import Callable, Iterable
from typing import Any, Literal, get_args, get_origin

from xrayssl.configfile import NONE_WORDS, field_default, load_config_file, merge, optional_type, split_list
from xrayssl.errors import XraySSLError

PREFIX = "cfg:"  # namespace keys of config values (nested ones as "cfg:pretrain.size")


def kebab(name: str) -> str:
    return name.replace("_", "-")


def converter(tp: Any) -> Callable[[str], Any] | None:
    """A function from command-line text to a value of type ``tp``; None when no flag can express it."""
    inner, optional = optional_type(tp)
    origin = get_origin(inner)
    if origin in (list, tuple):
        item = converter(get_args(inner)[0] if get_args(inner) else str)
        if item is None:
            return None

        def items(text: str) -> list:
            return [item(v) for v in split_list(text)]

        convert, name = items, f"comma-separated {getattr(item, '__name__', 'value')}"
    elif origin is Literal or inner in (int, float, str):
        convert, name = (str if origin is Literal else inner), getattr(inner, "__name__", "choice")
    else:
        return None
    if not optional:
        return convert

    def maybe(text: str) -> Any:
        return None if text.strip().lower() in NONE_WORDS else convert(text)

    maybe.__name__ = name  # argparse names the type in "invalid ... value"
    return maybe


class KeyValue(argparse.Action):
    """Repeatable ``NAME=VALUE`` into a dict (later ones win)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        name, sep, value = str(values).partition("=")
        if not sep or not name.strip():
            parser.error(f"{option_string} '{values}': write NAME=VALUE")
        current = dict(getattr(namespace, self.dest, None) or {})
        current[name.strip()] = value.strip()
        setattr(namespace, self.dest, current)


def shown(value: Any) -> str:
    """A default as the help prints it."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list | tuple):
        return ",".join(shown(v) for v in value) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def default_text(f: dataclasses.Field, override: Any = dataclasses.MISSING) -> str | None:
    """The default shown in a field's help: an override (e.g. the study's), the field's words, or its value."""
    if override is not dataclasses.MISSING:
        return shown(override)
    if "default" in f.metadata:
        return str(f.metadata["default"])
    value = field_default(f)
    return None if value is dataclasses.MISSING else shown(value)


def add_fields(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    *,
    exclude: Iterable[str] = (),
    into: str = "",
    prefix: str = "",
    defaults: dict[str, Any] | None = None,
    default_words: dict[str, str] | None = None,
) -> list[argparse.Action]:
    """One flag per field of ``cls`` (fields in ``exclude`` and types no flag can express are left out).

    ``into``: the values land in the config's dict field of that name (the study's ``pretrain``);
    ``prefix``: prepended to flag names; ``defaults``/``default_words``: defaults that the enclosing config
    applies instead of the field's, shown in the help."""
    hints = typing.get_type_hints(cls)
    actions = []
    for f in dataclasses.fields(cls):
        if f.name in exclude:
            continue
        tp = hints[f.name]
        key = f"{PREFIX}{into + '.' if into else ''}{f.name}"
        flags = [f"--{prefix}{kebab(f.name)}", *f.metadata.get("flags", ())]
        help_text = str(f.metadata.get("help", "")).replace("%", "%%")
        words = (default_words or {}).get(f.name)
        default = words if words is not None else default_text(f, (defaults or {}).get(f.name, dataclasses.MISSING))
        listed = f.metadata.get("choices")  # an enumeration: argparse's choices, or listed for comma lists
        many = get_origin(optional_type(tp)[0]) in (list, tuple)
        if listed and many:
            help_text = f"{help_text} {{{','.join(map(str, listed))}}}".strip()
        if default is not None:
            help_text = f"{help_text} (default: {default.replace('%', '%%')})".strip()
        elif field_default(f) is dataclasses.MISSING and f.name not in (defaults or {}):
            help_text = f"{help_text} (required: here or in --config)".strip()
        common = {"dest": key, "default": argparse.SUPPRESS, "help": help_text}
        metavar = f.name.upper()
        inner = optional_type(tp)[0]
        if inner is bool:
            actions.append(parser.add_argument(*flags, action=argparse.BooleanOptionalAction, **common))
        elif get_origin(inner) is dict and get_args(inner) == (str, str):
            actions.append(parser.add_argument(*flags, action=KeyValue, metavar="NAME=VALUE", **common))
        elif get_origin(inner) is not dict and (convert := converter(tp)) is not None:
            choices = list(get_args(inner)) if get_origin(inner) is Literal else None
            if listed and not many and not optional_type(tp)[1]:
                choices = list(listed)
            metavar = None if choices else metavar
            if f.metadata.get("repeat"):
                common["action"] = "extend"  # each value is itself a comma list; all of them add up
            actions.append(parser.add_argument(*flags, type=convert, choices=choices, metavar=metavar, **common))
    return actions


def field_help(cls: type, name: str) -> str:
    return str(next(f for f in dataclasses.fields(cls) if f.name == name).metadata.get("help", ""))


def add_positional(parser: argparse.ArgumentParser, name: str, help: str, optional: bool = False) -> None:
    """A config field given by position (cache, source); optional when a --config file may give it."""
    nargs = "?" if optional else None
    parser.add_argument(f"{PREFIX}{name}", metavar=name, nargs=nargs, default=argparse.SUPPRESS, help=help)


def add_config_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("configuration")
    g.add_argument(
        "--config",
        metavar="FILE",
        help="YAML file of settings, keyed by the flags' names (with _ or -); flags given here override it. "
        "A run folder's config.json works too",
    )
    g.add_argument("--print-config", action="store_true", help="print the resolved settings as YAML and exit")


def given(args: argparse.Namespace) -> dict[str, Any]:
    """The config values typed on the command line, nested: {"size": 32, "pretrain": {"epochs": 2}}."""
    out: dict[str, Any] = {}
    for key, value in vars(args).items():
        if key.startswith(PREFIX):
            *outer, name = key[len(PREFIX) :].split(".")
            target = out
            for part in outer:
                target = target.setdefault(part, {})
            target[name] = value
    return out


def resolve(cls: type, args: argparse.Namespace, *, partial: bool = False) -> dict[str, Any]:
    """The settings of ``cls`` from --config then the flags; required fields missing -> one-line error
    (``partial``: left out, for --print-config of a template)."""
    data = load_config_file(args.config, cls) if getattr(args, "config", None) else {}
    data = merge(data, given(args))
    required = [f.name for f in dataclasses.fields(cls) if field_default(f) is dataclasses.MISSING]
    missing = [name for name in required if name not in data]
    if missing and not partial:
        names = ", ".join(missing)
        raise XraySSLError(f"missing setting(s) {names}: give them on the command line or in a --config file")
    return {**{name: None for name in missing}, **data}


def build(cls: type, args: argparse.Namespace) -> Any:
    """The config object, or None after printing it (--print-config)."""
    if getattr(args, "print_config", False):
        config = cls(**resolve(cls, args, partial=True))
        print_config(config)
        return None
    return cls(**resolve(cls, args))


def print_config(config: Any) -> None:
    import yaml

    data = json.loads(json.dumps(dataclasses.asdict(config)))  # plain types: tuples -> lists
    print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), end="")
