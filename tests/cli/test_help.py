"""--help says what each flag takes: enumerations as choices, required settings as required, every flag with its
help text, and every default written one way, '(default: X)'."""

from __future__ import annotations

import argparse
import re

import pytest

from xrayssl.cli.main import build_parser


def _subparsers(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                yield from ((f"{name} {n}", s) for n, s in _subparsers(sub))


PARSERS = dict(_subparsers(build_parser()))


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_every_flag_has_help_and_one_default_style(name):
    for action in PARSERS[name]._actions:
        if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
            continue
        assert action.help and action.help.strip(), f"{name}: {action.option_strings or action.dest} has no help"
        assert not re.search(r"\(default [^:]", action.help), f"{name} {action.option_strings}: {action.help}"


def _action(parser: str, flag: str) -> argparse.Action:
    return next(a for a in PARSERS[parser]._actions if flag in a.option_strings)


def test_enumerations_are_real_choices():
    assert "byol" in _action("pretrain", "--method").choices
    assert list(_action("study", "--design").choices) == ["full", "fractional", "one-at-a-time", "pairwise", "list"]
    assert list(_action("pretrain", "--split").choices) == ["train", "val", "test"]
    assert "test" in _action("probe", "--split").choices
    assert "{simclr," in _action("study", "--methods").help  # a comma list: its values listed
    with pytest.raises(SystemExit):
        build_parser().parse_args(["study", "c", "--out", "o", "--design", "latin"])


def test_required_settings_are_shown_required():
    assert "(required" in _action("pretrain", "--out").help
    cache = next(a for a in PARSERS["pretrain"]._actions if a.dest.endswith("cache"))
    assert "(required" in cache.help
    assert _action("study", "--out").required
