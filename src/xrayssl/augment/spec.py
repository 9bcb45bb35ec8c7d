"""The text spec of an augmentation recipe: ``flip+rotate(15)+chessboard(cell=0.08,shift=0.02,p=0.5)``.

Pure parsing: ``parse_spec`` gives (name, positional args, keyword args) per op; ranges are written
``low..high``. ``format_value`` writes values back so that a parsed spec round-trips.
"""

from __future__ import annotations

import re

from xrayssl.catalog import OPS
from xrayssl.errors import XraySSLError

Value = float | int | bool | str | tuple[float, float]
TERM = re.compile(r"^\s*([A-Za-z_][\w-]*)\s*(?:\((.*)\))?\s*$")


def _value(text: str) -> Value:
    text = text.strip()
    if ".." in text:
        lo, hi = text.split("..", 1)
        return (float(_value(lo)), float(_value(hi)))
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == sep and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if depth:
        raise XraySSLError(f"unbalanced parentheses in augmentation spec '{text}'")
    return [*parts, cur]


def parse_spec(spec: str) -> list[tuple[str, list[Value], dict[str, Value]]]:
    terms = []
    for term in _split_top(spec.strip(), "+") if spec.strip() else []:
        m = TERM.match(term)
        if not m:
            raise XraySSLError(f"cannot read '{term.strip()}' in augmentation spec '{spec}': write name(arg,key=value)")
        args: list[Value] = []
        kwargs: dict[str, Value] = {}
        for part in _split_top(m[2] or "", ","):
            if not part.strip():
                continue
            if "=" in part:
                key, val = part.split("=", 1)
                kwargs[key.strip()] = _value(val)
            elif kwargs:
                raise XraySSLError(f"positional argument after keyword in '{term.strip()}'")
            else:
                args.append(_value(part))
        terms.append((m[1].lower(), args, kwargs))
    return terms


def format_value(value: Value) -> str:
    if isinstance(value, tuple):
        return f"{format_value(value[0])}..{format_value(value[1])}"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def check_recipe_names(spec: str) -> None:
    """An augmentation recipe (or preset) reads and names known ops; its parameters are checked where the
    pipeline is built (augment/ops holds them, with torch), which every run does before its first step."""
    from xrayssl.augment.presets import PRESETS

    try:
        for name, _, _ in parse_spec(PRESETS.get(spec.strip().lower(), spec)):
            if name not in OPS:
                raise XraySSLError(f"unknown augmentation '{name}'; valid: {', '.join(OPS)}")
    except XraySSLError as exc:
        raise XraySSLError(f"{exc} (presets: {', '.join(PRESETS)})") from exc
