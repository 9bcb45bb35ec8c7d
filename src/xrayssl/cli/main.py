"""Entry point of the ``xrayssl`` command: its subcommands are the steps' table (xrayssl/steps.py)."""

from __future__ import annotations

import argparse
import sys

from xrayssl.cli.commands import add_steps
from xrayssl.errors import XraySSLError
from xrayssl.version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xrayssl",
        description="Find which augmentations make self-supervised learning work on X-ray images.",
    )
    parser.add_argument("--version", action="version", version=f"xrayssl {__version__}")
    add_steps(parser.add_subparsers(dest="command", required=True))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except XraySSLError as exc:
        print(f"xrayssl: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("xrayssl: interrupted", file=sys.stderr)
        return 130
