"""Any timm backbone at equal wall time: `timm:resnet10t` and `timm:convnext_atto` against the built-in resnet18.

Each backbone is pretrained with SimCLR (xrayssl's defaults otherwise) from random weights on the knee training
images (../shared/data/knee_oa, prepared at 64 px) for the same wall-clock budget, then probed frozen with the
same linear probe (C chosen on val; test AUROC with 95 % patient-bootstrap intervals). Throughput is the run's
own pairs/s. The untrained encoder of each backbone is probed too (its floor), so a gain from pretraining is
read against where that backbone starts.

Real foundation weights (DINOv2, RAD-DINO) cannot be measured on this machine: it has no network. With the
weights at hand, run e.g.

    xrayssl probe CACHE --encoder timm:vit_small_patch14_dinov2.lvd142m --weights dinov2_vits14.safetensors --size 56
    xrayssl probe CACHE --encoder hf:rad-dino/ --size 518
    xrayssl pretrain CACHE --out runs/dino --backbone timm:vit_small_patch14_dinov2.lvd142m --init pretrained \\
        --weights dinov2_vits14.safetensors --size 56 --budget 15m && xrayssl probe runs/dino

    python benchmarks/bench_timm_backbones.py [--budget 10m] [--seed 0] [--backbones timm:resnet10t,...] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

KNEE = Path(__file__).resolve().parents[2] / "shared" / "data" / "knee_oa"
BACKBONES = "resnet18,timm:resnet10t,timm:convnext_atto"


def probe(source: str, out: Path, size: int, n_boot: int, encoder: str = "run", backbone: str = "resnet18") -> dict:
    from xrayssl.evaluate.config import ProbeConfig
    from xrayssl.evaluate.run_probe import probe as run_probe

    cfg = ProbeConfig(source=source, encoder=encoder, backbone=backbone, size=size, n_boot=n_boot, out=str(out))
    return run_probe(cfg)["overall"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budget", default="10m")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backbones", default=BACKBONES)
    ap.add_argument("--data", default=str(KNEE), help="a dataset folder (labels.csv) or a prepared cache")
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--out", default="runs/timm-backbones")
    args = ap.parse_args()
    from xrayssl.data.cache import CACHE_JSON
    from xrayssl.data.prepare import prepare
    from xrayssl.data.process import ProcessConfig
    from xrayssl.train.config import PretrainConfig
    from xrayssl.train.pretrain import pretrain

    out = Path(args.out)
    data = Path(args.data)
    if (data / CACHE_JSON).is_file():
        cache = data
    else:
        cache = prepare(data, out / "cache", process=ProcessConfig(size=args.size), progress=False).cache
    rows = []
    for backbone in args.backbones.split(","):
        tag = backbone.replace(":", "-")
        floor = probe(str(cache), out / f"floor-{tag}.json", args.size, args.bootstrap, "random", backbone)
        t = time.perf_counter()
        run = out / f"simclr-{tag}-seed{args.seed}"
        cfg = PretrainConfig(cache=str(cache), out=str(run), backbone=backbone, size=args.size,
                             batch_size=args.batch, budget=args.budget, seed=args.seed)  # fmt: skip
        pretrain(cfg, resume=(run / "config.json").is_file(), progress_bar=False)
        wall = time.perf_counter() - t
        record = json.loads((run / "record.json").read_text())
        got = probe(str(run), run / "probe-run.json", args.size, args.bootstrap)
        rows.append((backbone, wall, record["steps"], record["throughput"]["pairs_per_second"], got, floor))
        print(rows[-1][:4], got["auroc"], floor["auroc"], flush=True)

    print(f"\nSimCLR from random weights, {args.size} px, batch {args.batch}, budget {args.budget}, seed {args.seed}\n")
    print("| backbone | wall s | steps | pairs/s | test AUROC [95 % CI] | untrained floor [95 % CI] |")
    print("|---|---|---|---|---|---|")
    for backbone, wall, steps, rate, got, floor in rows:
        (lo, hi), (flo, fhi) = got["auroc_ci"], floor["auroc_ci"]
        print(f"| {backbone} | {wall:.0f} | {steps} | {rate:.0f} | {got['auroc']:.3f} [{lo:.3f}, {hi:.3f}] | "
              f"{floor['auroc']:.3f} [{flo:.3f}, {fhi:.3f}] |")  # fmt: skip


if __name__ == "__main__":
    main()
