"""Every subcommand generated from the steps' table by one function: positional fields, one flag per other field,
the step's switches, ``--config``/``--print-config``; running it is ``build``, the run function, the printer."""

from __future__ import annotations

import argparse
import dataclasses
from functools import partial

from xrayssl.cli.options import add_config_options, add_fields, add_positional, build, field_help, kebab
from xrayssl.configfile import field_default
from xrayssl.steps import STEPS, Step, load

GROUPS = {"data": "read, check and prepare datasets", "augment": "look at augmentation recipes"}


def positional_fields(step: Step, cls: type) -> tuple[str, ...]:
    """The fields given by position: the step's, else the config's first required field."""
    if step.positional is not None:
        return step.positional
    required = [f.name for f in dataclasses.fields(cls) if field_default(f) is dataclasses.MISSING]
    return tuple(required[:1])


def add_step(sub: argparse._SubParsersAction, step: Step) -> argparse.ArgumentParser:
    """The step's subcommand; the config's dataclass gives every flag, its help and its default."""
    if step.parser is not None:
        return load(step.parser)(sub, step)
    cls = step.config_class()
    p = sub.add_parser(step.name.split()[-1], help=step.help, description=step.description)
    positional = positional_fields(step, cls)
    for name in positional:  # optional: a --config file may give it (resolve names what is missing)
        f = next(f for f in dataclasses.fields(cls) if f.name == name)
        needed = " (required: here or in --config)" if field_default(f) is dataclasses.MISSING else ""
        add_positional(p, name, help=field_help(cls, name) + needed, optional=True)
    add_fields(p, cls, exclude=positional)
    for name, text in {**step.switches, **step.shows}.items():
        p.add_argument(f"--{kebab(name)}", dest=name, action="store_true", help=text)
    add_config_options(p)
    p.set_defaults(func=partial(run_command, step))
    return p


def run_command(step: Step, args: argparse.Namespace) -> int:
    """Build the config (or print it), run the step, show its result; the printer gives the exit status."""
    config = build(step.config_class(), args)
    if config is None:
        return 0
    switches = {name: getattr(args, name) for name in step.switches}
    shows = {name: getattr(args, name) for name in step.shows}
    if shows.get("json") and "quiet" in switches:
        switches["quiet"] = True  # JSON on stdout is for programs: no progress bars
    result = step(config, **switches)
    return int(load(step.printer)(result, config, **shows) or 0)


def add_steps(sub: argparse._SubParsersAction) -> None:
    """One subcommand per step; two-word steps ("data prepare") under their group's command."""
    groups: dict[str, argparse._SubParsersAction] = {}
    for step in STEPS:
        group, _, _ = step.name.rpartition(" ")
        if group and group not in groups:
            parser = sub.add_parser(group, help=GROUPS[group])
            groups[group] = parser.add_subparsers(dest=f"{group}_command", required=True)
        add_step(groups[group] if group else sub, step)
