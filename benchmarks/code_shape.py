"""Lines per module and per function under src/xrayssl (issue 24's measure of shape), as a Markdown table.

    python benchmarks/code_shape.py [--top 10]

Counts physical lines (docstrings and comments included); a function's length runs from its ``def`` to its
last line, nested functions counted inside their parent and on their own.
"""

from __future__ import annotations

import argparse
import ast
import statistics
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "xrayssl"


def functions(tree: ast.AST) -> list[tuple[str, int]]:
    return [
        (node.name, node.end_lineno - node.lineno + 1)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--top", type=int, default=10)
    args = ap.parse_args()
    modules, funcs = {}, []
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text()
        name = str(path.relative_to(SRC.parent))
        modules[name] = len(text.splitlines())
        funcs += [(f"{name}:{fn}", n) for fn, n in functions(ast.parse(text))]
    sizes, lengths = list(modules.values()), [n for _, n in funcs]
    print("| measure | value |\n|---|---|")
    print(f"| modules | {len(sizes)} |")
    print(f"| lines in all | {sum(sizes)} |")
    print(f"| lines per module: median / max | {statistics.median(sizes):.0f} / {max(sizes)} |")
    print(f"| modules over 400 lines | {sum(s > 400 for s in sizes)} |")
    print(f"| functions | {len(lengths)} |")
    print(f"| lines per function: median / max | {statistics.median(lengths):.0f} / {max(lengths)} |")
    print(f"| functions over 60 lines | {sum(n > 60 for n in lengths)} |")
    largest = sorted(modules.items(), key=lambda x: -x[1])[: args.top]
    print(f"\nLargest modules: {', '.join(f'{m} {n}' for m, n in largest)}")
    longest = sorted(funcs, key=lambda x: -x[1])[: args.top]
    print(f"\nLongest functions: {', '.join(f'{f} {n}' for f, n in longest)}")


if __name__ == "__main__":
    main()
