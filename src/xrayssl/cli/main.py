"""Entry point of the ``xrayssl`` command."""

from __future__ import annotations

import argparse
import sys

from xrayssl.cli import augment, data, demo, export, study, train
from xrayssl.errors import XraySSLError
from xrayssl.version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xrayssl",
        description="Find which augmentations make self-supervised learning work on X-ray images.",
    )
    parser.add_argument("--version", action="version", version=f"xrayssl {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (data, augment, train, export, study, demo):
        module.add_parser(sub)
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
