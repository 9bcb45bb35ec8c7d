"""Pretraining throughput: xrayssl's pipeline against lightly's reference SimCLR example, side by side.

Both train SimCLR (lightly's NTXentLoss and projection head) with the same one-channel ResNet-18, batch and
image size on the same images held in memory. The reference decodes nothing either (PIL images in RAM)
but augments one image at a time with lightly's SimCLRTransform (without colour) in a DataLoader with one
worker per core, as lightly's example does; xrayssl augments whole batches in the training process.

    python benchmarks/bench_pretrain_throughput.py [--steps 8] [--sizes 64,128]
"""

from __future__ import annotations

import argparse
import os
import time

import cv2
import numpy as np
import torch
from PIL import Image

from xrayssl.data.synthetic import SynthConfig, generate


def make_net():
    from lightly.loss import NTXentLoss
    from lightly.models.modules import SimCLRProjectionHead

    from xrayssl.models.backbones import Backbone

    torch.manual_seed(0)
    backbone = Backbone("resnet18")
    head = SimCLRProjectionHead(512, 1024, 128)
    params = [*backbone.parameters(), *head.parameters()]
    return backbone, head, NTXentLoss(temperature=0.2), torch.optim.AdamW(params, lr=1e-3)


def step(backbone, head, loss_fn, opt, v1, v2):
    loss = loss_fn(head(backbone(v1)), head(backbone(v2)))
    opt.zero_grad()
    loss.backward()
    opt.step()


class Pairs(torch.utils.data.Dataset):
    def __init__(self, images, transform):
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
        Pairs(images, t),
        batch_size=batch,
        shuffle=True,
        drop_last=True,
        num_workers=os.cpu_count(),
        persistent_workers=True,
    )


def reference_rate(images, size, batch, steps):
    loader = reference_loader(images, size, batch)
    backbone, head, loss_fn, opt = make_net()
    it = iter(loader)
    step(backbone, head, loss_fn, opt, *next(it))  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step(backbone, head, loss_fn, opt, *next(it))
    return steps * batch / (time.perf_counter() - start)


def xrayssl_rate(images, batch, steps):
    """xrayssl's training step as `pretrain --precision bf16-mixed` runs it: batched views, channels-last, bf16
    autocast where the CPU has bf16 instructions (pretrain's CPU default is fp32: see the README)."""
    from xrayssl.augment import parse_pipeline
    from xrayssl.runs import cpu_has_bf16

    aug = parse_pipeline("simclr")
    x = torch.from_numpy(images).unsqueeze(1)
    backbone, head, loss_fn, opt = make_net()
    backbone = backbone.to(memory_format=torch.channels_last)
    gen = torch.Generator().manual_seed(0)
    rng = np.random.default_rng(0)
    bf16 = cpu_has_bf16()

    def one():
        b = x[torch.from_numpy(rng.choice(len(x), batch, replace=False))].float().div_(255)
        v1, v2 = (aug(b, gen).contiguous(memory_format=torch.channels_last) for _ in range(2))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = loss_fn(head(backbone(v1)).float(), head(backbone(v2)).float())
        opt.zero_grad()
        loss.backward()
        opt.step()

    one()
    start = time.perf_counter()
    for _ in range(steps):
        one()
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--sizes", default="64,128")
    args = ap.parse_args()
    base = np.stack([im for im, _ in generate(SynthConfig(n_patients=120, size=224, seed=0), workers=os.cpu_count())])
    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__}; SimCLR, ResNet-18, batch {args.batch}\n")
    print("| size | lightly reference pairs/s | xrayssl pairs/s | ratio |\n|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        imgs = np.stack([cv2.resize(b, (size, size), interpolation=cv2.INTER_AREA) for b in base])
        reps = -(-(args.steps + 2) * args.batch // len(imgs))  # enough images for every step in one epoch
        imgs = np.concatenate([imgs] * reps)
        ref = reference_rate(imgs, size, args.batch, args.steps)
        ours = xrayssl_rate(imgs, args.batch, args.steps)
        print(f"| {size} | {ref:.0f} | {ours:.0f} | {ours / ref:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
