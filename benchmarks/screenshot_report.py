"""The README's picture: a report's first screen in headless Chromium, cropped and saved as a small PNG.

    python benchmarks/screenshot_report.py xrayssl-demo/report.html docs/images/demo-report.png

Needs `chromium` on PATH (Debian's package; `.ci/run` installs it). Prints the page's console errors, if any.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from browser import check_page  # the tests' DevTools helper


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("report", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--height", type=int, default=1000, help="page pixels kept from the top (default 1000)")
    p.add_argument("--width", type=int, default=900, help="width of the saved image (default 900)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        page = check_page(args.report, Path(tmp) / "profile")
    for error in page.errors:
        print(f"console: {error}", file=sys.stderr)
    shot = cv2.imdecode(np.frombuffer(page.screenshot, np.uint8), cv2.IMREAD_COLOR)[: args.height]
    height = round(shot.shape[0] * args.width / shot.shape[1])
    shot = cv2.resize(shot, (args.width, height), interpolation=cv2.INTER_AREA)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # a 256-colour palette keeps text, plots and the verdict colours at under half the size of a full-colour PNG
    Image.fromarray(shot[..., ::-1]).quantize(colors=256).save(args.out, optimize=True)
    print(f"{args.out}: {shot.shape[1]}x{shot.shape[0]}, {args.out.stat().st_size / 1024:.0f} KiB")
    return 1 if page.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
