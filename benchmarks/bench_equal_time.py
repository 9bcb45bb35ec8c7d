"""Equal wall time: lightly's reference SimCLR example against `xrayssl pretrain --method simclr`, probed alike.

Both train SimCLR with the same one-channel ResNet-18, batch and image size on the knee training images
(../shared/data/knee_oa, prepared at 64 px without CLAHE) for the same wall-clock budget; then the same
linear probe (C chosen on the author's val split) is fitted on each frozen encoder and reported on the
patient-disjoint test split with 95 % patient-bootstrap intervals. The reference is lightly's example
pipeline: SimCLRTransform (colour off, crop 0.2-1, blur, flip) in a DataLoader with one worker per core,
NTXentLoss(0.2) and its projection head, AdamW 1e-3, fp32. xrayssl runs its own loop with the `simclr`
preset (the same augmentations, batched) and its defaults otherwise (warm-up + cosine learning rate;
fp32 on CPU since the bf16 runs in the README learned slightly worse).

    python benchmarks/bench_equal_time.py [--budget 10m] [--seed 0] [--only both|xrayssl|reference] [--out DIR]
        [--augs SPEC]   # xrayssl's views; e.g. pretrain's default recipe instead of the reference's
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import torch

KNEE = Path(__file__).resolve().parents[2] / "shared" / "data" / "knee_oa"


def reference(
    images: torch.Tensor, size: int, batch: int, seconds: float, seed: int = 0
) -> tuple[torch.nn.Module, int]:
    """lightly's example loop for ``seconds`` of wall time (start-up included); returns the backbone, steps."""
    from bench_pretrain_throughput import make_net, reference_loader, step

    start = time.perf_counter()
    loader = reference_loader(images[:, 0].numpy(), size, batch)
    backbone, head, loss_fn, opt = make_net()
    torch.manual_seed(seed)  # make_net seeds the initialisation; the seed picks data order and augmentations
    backbone.train()
    steps = 0
    while time.perf_counter() - start < seconds:
        for v1, v2 in loader:
            step(backbone, head, loss_fn, opt, v1, v2)
            steps += 1
            if time.perf_counter() - start >= seconds:
                break
    return backbone, steps


def probe_encoder(backbone, cache, rows, size: int) -> dict:
    from xrayssl.data.cache import load_images
    from xrayssl.evaluate.evaluation import metrics_report
    from xrayssl.evaluate.features import encode
    from xrayssl.evaluate.probe import LinearProbe

    x = {s: encode(backbone, load_images(cache, r["index"].to_numpy(), size), device="cpu") for s, r in rows.items()}
    fitted = LinearProbe().fit(x["train"], rows["train"]["label"].to_numpy(), x["val"], rows["val"]["label"].to_numpy())
    frame = rows["test"][["patient_id", "study_id", "body_part", "label"]].assign(prob=fitted.predict_proba(x["test"]))
    return metrics_report(frame, fitted.threshold_)["overall"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budget", default="10m")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--out", default="runs/equal-time")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=("both", "xrayssl", "reference"), default="both")
    ap.add_argument("--augs", default="simclr", help="xrayssl's views (default: the reference's augmentations)")
    args = ap.parse_args()
    from xrayssl.data.cache import PreparedCache, load_images
    from xrayssl.data.prepare import prepare
    from xrayssl.data.process import ProcessConfig
    from xrayssl.data.selection import labelled_splits
    from xrayssl.train.config import parse_budget

    out = Path(args.out)
    seconds = parse_budget(args.budget)
    path = prepare(KNEE, out / "cache", process=ProcessConfig(size=args.size, clahe=False), progress=False).cache
    cache = PreparedCache(path)
    rows = labelled_splits(cache.manifest, None, str(cache.path))
    results = []

    if args.only != "reference":
        results.append(run_xrayssl(args, path, cache, rows))
        print(results[-1], flush=True)
    if args.only != "xrayssl":
        t = time.perf_counter()
        images = load_images(cache, rows["train"]["index"].to_numpy(), args.size)
        backbone, steps = reference(images, args.size, args.batch, seconds, args.seed)
        wall = time.perf_counter() - t
        name = "lightly reference example (SimCLRTransform + DataLoader)"
        results.append((name, wall, steps, probe_encoder(backbone, cache, rows, args.size)))
        print(results[-1], flush=True)

    print(f"\nSimCLR, ResNet-18, {args.size} px, batch {args.batch}, budget {args.budget}, seed {args.seed}\n")
    print("| pipeline | wall s | steps | test AUROC [95 % CI] |\n|---|---|---|---|")
    for name, wall, steps, o in results:
        lo, hi = o["auroc_ci"]
        print(f"| {name} | {wall:.0f} | {steps} | {o['auroc']:.3f} [{lo:.3f}, {hi:.3f}] |")


def run_xrayssl(args, path, cache, rows):
    from xrayssl.runs import load_encoder
    from xrayssl.train.config import PretrainConfig
    from xrayssl.train.pretrain import pretrain

    # a readable prefix plus a hash, so two recipes never share a run folder
    digest = hashlib.sha1(args.augs.encode()).hexdigest()[:8]
    tag = "".join(c if c.isalnum() else "-" for c in args.augs)[:24] + "-" + digest
    t = time.perf_counter()
    run = pretrain(
        PretrainConfig(
            cache=str(path),
            out=str(Path(args.out) / f"xrayssl-simclr-{tag}-seed{args.seed}"),
            method="simclr",
            augs=args.augs,
            size=args.size,
            batch_size=args.batch,
            budget=args.budget,
            seed=args.seed,
        ),
        progress_bar=False,
    )
    wall = time.perf_counter() - t
    steps = json.loads((run / "record.json").read_text())["steps"]
    name = f"xrayssl pretrain --method simclr --augs '{args.augs}'"
    return name, wall, steps, probe_encoder(load_encoder(run)[0], cache, rows, args.size)


if __name__ == "__main__":
    main()
