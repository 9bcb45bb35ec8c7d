"""Pretraining throughput: the model-only rate against `xrayssl pretrain` end to end, side by side.

Model only: forward, backward and AdamW of SimCLR (one-channel ResNet-18 + lightly's projection head and
NT-Xent) on two random view batches already on the device, channels-last, bf16 autocast on a GPU (fp32 on
a CPU, as pretrain's defaults). End to end: `xrayssl pretrain` with its defaults for the device on a
synthetic cache at the same size and batch, its record's pairs/s over the wall time of the fit loop, and
where that time went (views, step, checkpoint, monitor, other). A pair is the two views of one image.

    python benchmarks/bench_pretrain_throughput.py --device cuda --sizes 96,224 --batch 256
    python benchmarks/bench_pretrain_throughput.py --device cpu --sizes 64 --batch 128 --steps 30
    python benchmarks/bench_pretrain_throughput.py ... --set compile=true   # any PretrainConfig field

`--reference` adds lightly's reference example (SimCLRTransform per image in a DataLoader, one worker per
core) as a third column, the comparison the README's CPU table reports.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def make_net(device: str = "cpu"):
    from lightly.loss import NTXentLoss
    from lightly.models.modules import SimCLRProjectionHead

    from xrayssl.models.backbones import Backbone

    torch.manual_seed(0)
    backbone = Backbone("resnet18").to(device, memory_format=torch.channels_last)
    head = SimCLRProjectionHead(512, 1024, 128).to(device)
    params = [*backbone.parameters(), *head.parameters()]
    return backbone, head, NTXentLoss(temperature=0.2), torch.optim.AdamW(params, lr=1e-3)


def step(backbone, head, loss_fn, opt, v1, v2, autocast: bool = False):
    with torch.autocast(v1.device.type, dtype=torch.bfloat16, enabled=autocast):
        loss = loss_fn(head(backbone(v1)).float(), head(backbone(v2)).float())
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def model_only_rate(device: str, size: int, batch: int, steps: int) -> float:
    """Pairs/s of forward + backward + AdamW alone, views already made and on the device."""
    net = make_net(device)
    cl = torch.channels_last
    v1 = torch.rand(batch, 1, size, size, device=device).contiguous(memory_format=cl)
    v2 = torch.rand(batch, 1, size, size, device=device).contiguous(memory_format=cl)
    for _ in range(3):
        step(*net, v1, v2, autocast=device == "cuda")  # warm-up (cuDNN autotuning, allocator)
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step(*net, v1, v2, autocast=device == "cuda")
    sync(device)
    return steps * batch / (time.perf_counter() - start)


def synthetic_cache(folder: Path, size: int, n_images: int) -> Path:
    """A prepared cache of about ``n_images`` synthetic radiographs at ``size`` px (made once per size)."""
    from xrayssl.data.prepare import prepare
    from xrayssl.data.process import ProcessConfig
    from xrayssl.data.synthetic import SynthConfig, write_dataset

    data = folder / "data"
    if not (data / "labels.csv").is_file():
        write_dataset(data, SynthConfig(n_patients=max(40, n_images // 5), size=256, seed=0), workers=os.cpu_count())
    return Path(prepare(data, folder / f"cache{size}", process=ProcessConfig(size=size), progress=False).cache)


def end_to_end(cache: Path, out: Path, device: str, batch: int, steps: int, overrides: dict) -> dict:
    """`xrayssl pretrain` for a whole number of epochs close to ``steps`` steps; its record's throughput."""
    from xrayssl.data.cache import PreparedCache
    from xrayssl.train.config import PretrainConfig
    from xrayssl.train.pretrain import pretrain

    n_train = len(PreparedCache(cache).indices(split="train"))
    epochs = max(1, round(steps / max(1, n_train // batch)))
    config = PretrainConfig(
        cache=str(cache),
        out=str(out),
        size=PreparedCache(cache).size,
        batch_size=batch,
        epochs=epochs,
        budget=None,
        accelerator="gpu" if device == "cuda" else "cpu",
        devices="1",
        **overrides,
    )
    run = pretrain(config, progress_bar=False)
    record = json.loads((run / "record.json").read_text())
    return {"steps": record["steps"], **record["throughput"], "peak_gpu_mib": record.get("peak_gpu_mib")}


class Pairs(torch.utils.data.Dataset):
    def __init__(self, images, transform):
        from PIL import Image

        self.images, self.transform = [Image.fromarray(i).convert("RGB") for i in images], transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        v1, v2 = self.transform(self.images[i])
        return v1[:1], v2[:1]  # lightly's transform yields RGB tensors: keep one channel for the same backbone


def reference_loader(images: np.ndarray, size: int, batch: int) -> torch.utils.data.DataLoader:
    """lightly's example data pipeline: SimCLRTransform without colour, one worker per core."""
    from lightly.transforms import SimCLRTransform

    t = SimCLRTransform(
        input_size=size, cj_prob=0.0, random_gray_scale=0.0, normalize=None, vf_prob=0.0, rr_prob=0.0, min_scale=0.2
    )
    return torch.utils.data.DataLoader(
        Pairs(images, t), batch_size=batch, shuffle=True, drop_last=True, num_workers=os.cpu_count()
    )


def reference_rate(images: np.ndarray, size: int, batch: int, steps: int) -> float:
    """lightly's reference example, CPU, fp32."""
    loader = reference_loader(images, size, batch)
    net = make_net("cpu")
    it = _endless(loader)  # any --steps: epochs follow one another, as in a real run
    step(*net, *next(it))
    start = time.perf_counter()
    for _ in range(steps):
        step(*net, *next(it))
    return steps * batch / (time.perf_counter() - start)


def _endless(loader: torch.utils.data.DataLoader):
    while True:
        yield from loader


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cuda", "cpu"])
    ap.add_argument("--sizes", default="96,224")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=None, help="steps per measurement (default 200 GPU, 20 CPU)")
    ap.add_argument("--images", type=int, default=4000, help="synthetic training pool (about the knee set's size)")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="PretrainConfig overrides")
    ap.add_argument("--reference", action="store_true", help="add lightly's reference example (CPU)")
    ap.add_argument("--work", default=None, help="folder for caches and runs (default: a temporary folder)")
    args = ap.parse_args()
    from bench_ssl_knee import settings

    steps = args.steps or (200 if args.device == "cuda" else 20)
    name = torch.cuda.get_device_name(0) if args.device == "cuda" else f"{os.cpu_count()}-core CPU"
    # the kNN monitor is a feature with its own cost (about 2,800 forward passes a reading), not loop overhead:
    # off unless asked for, and then in its own column
    overrides = {"monitor_every": 0, **settings(args.set)}
    every = overrides["monitor_every"]
    monitor = f"every {every} steps" if every else "off"
    print(
        f"{name}, torch {torch.__version__}; SimCLR, ResNet-18, batch {args.batch}, {steps} steps; pairs/s; "
        f"kNN monitor {monitor}\n"
    )
    header = "| size | model only | end to end | ratio | outside the steps | views / step / ckpt / monitor / other s |"
    print(header + (" lightly reference |" if args.reference else ""))
    print("|---" * (header.count("|") - 1 + args.reference) + "|")
    work = Path(args.work or tempfile.mkdtemp(prefix="xrayssl-throughput-"))
    for size in (int(s) for s in args.sizes.split(",")):
        cache = synthetic_cache(work, size, args.images)
        model = model_only_rate(args.device, size, args.batch, steps)
        run = work / f"run{size}-{int(time.time())}"
        e2e = end_to_end(cache, run, args.device, args.batch, steps, overrides)
        s = e2e["seconds"]
        outside = 1 - (s["views"] + s["step"]) / max(e2e["fit_seconds"], 1e-9)  # views are made inside the step
        cells = [
            f"{size}",
            f"{model:.0f}",
            f"{e2e['pairs_per_second']:.0f}",
            f"{e2e['pairs_per_second'] / model:.0%}",
            f"{outside:.0%}",
            f"{s['views']:.1f} / {s['step']:.1f} / {s['checkpoint']:.1f} / {s['monitor']:.1f} / {s['other']:.1f}",
        ]
        if args.reference:
            from xrayssl.data.cache import PreparedCache

            imgs = np.asarray(PreparedCache(cache).images)
            cells.append(f"{reference_rate(imgs, size, args.batch, steps):.0f}")
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
