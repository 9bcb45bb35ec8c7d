"""Every number of every step's config has a range: NaN, inf, negative and huge values are one-line errors when
the config is built, before any folder is made (``--lr inf`` used to leave a folder that blocked the fix)."""

from __future__ import annotations

import dataclasses
import math
import typing

import pytest

from xrayssl.catalog import BOUNDS
from xrayssl.cli.main import main
from xrayssl.configfile import optional_type
from xrayssl.errors import XraySSLError
from xrayssl.steps import STEPS

HOSTILE_FLOATS = (math.nan, math.inf, -math.inf, -1e308, 1e308)
HOSTILE_INTS = (-(10**18), 10**18)


def _numeric_fields(cls: type) -> list[tuple[str, type, bool]]:
    """(name, number type, is a list) of every numeric field."""
    out = []
    for f in dataclasses.fields(cls):
        tp, _ = optional_type(typing.get_type_hints(cls)[f.name])
        listed = typing.get_origin(tp) in (list, tuple)
        inner = optional_type(typing.get_args(tp)[0])[0] if listed else tp
        if inner in (int, float):
            out.append((f.name, inner, listed))
    return out


def _required(cls: type) -> dict[str, str]:
    return {
        f.name: "x"
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }


CASES = [
    (step.name, step.config_class(), name, kind, listed)
    for step in STEPS
    for name, kind, listed in _numeric_fields(step.config_class())
]


def test_every_numeric_setting_has_a_range():
    missing = sorted(
        {f"{step}: {name}" for step, cls, name, _, _ in CASES if name not in BOUNDS and not _range_of(cls, name)}
    )
    assert not missing, f"add to catalog.BOUNDS (or a field 'range'): {missing}"
    assert len(CASES) > 40  # every step's numbers are driven here


def _range_of(cls: type, name: str):
    return next(f for f in dataclasses.fields(cls) if f.name == name).metadata.get("range")


@pytest.mark.parametrize(("step", "cls", "name", "kind", "listed"), CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_hostile_numbers_are_refused(step, cls, name, kind, listed):
    for value in HOSTILE_FLOATS + HOSTILE_INTS if kind is float else HOSTILE_INTS:
        settings = {**_required(cls), name: [value] if listed else value}
        with pytest.raises(XraySSLError):
            cls(**settings)


@pytest.mark.parametrize(
    "args",
    [
        ["pretrain", "CACHE", "--out", "OUT", "--lr", "inf"],
        ["pretrain", "CACHE", "--out", "OUT", "--weight-decay", "nan"],
        ["supervised", "CACHE", "--out", "OUT", "--label-fraction", "nan"],
        ["data", "prepare", "ROOT", "--out", "OUT", "--clahe-tiles", "100000"],
        ["data", "prepare", "ROOT", "--out", "OUT", "--clahe-clip", "nan"],
        ["data", "prepare", "ROOT", "--out", "OUT", "--test-fraction", "nan"],
        ["probe", "CACHE", "--pixels-size", "100000"],
        ["pretrain", "CACHE", "--out", "OUT", "--augs", "crop(scale=-1..0.5)"],
        ["pretrain", "CACHE", "--out", "OUT", "--augs", "rotate(1e308)"],
    ],
)
def test_hostile_flags_are_one_line_and_leave_nothing(args, tmp_path, capsys, tiny_cache):
    args = [str(tiny_cache) if a in ("CACHE", "ROOT") else str(tmp_path / "out") if a == "OUT" else a for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("xrayssl: error:") and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()
