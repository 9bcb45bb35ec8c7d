"""Entry point of the ``xrayssl`` command: its subcommands are the steps' table (xrayssl/steps.py)."""

from __future__ import annotations

import argparse
import sys

from xrayssl.cli.commands import add_steps
from xrayssl.errors import XraySSLError
from xrayssl.paths import printable
from xrayssl.version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xrayssl",
        description="Find which augmentations make self-supervised learning work on X-ray images.",
    )
    parser.add_argument("--version", action="version", version=f"xrayssl {__version__}")
    add_steps(parser.add_subparsers(dest="command", required=True))
    return parser


def one_line(text: str) -> str:
    """An error as the terminal shows it: one line, control characters from the data made visible."""
    return printable(" ".join(text.split()))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except XraySSLError as exc:
        print(f"xrayssl: error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path the user gave that cannot be made or written: theirs to fix, not a crash
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"xrayssl: error: {one_line(where + (exc.strerror or str(exc)))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("xrayssl: interrupted", file=sys.stderr)
        return 130
