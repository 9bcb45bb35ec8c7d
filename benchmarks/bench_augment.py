"""Benchmark xrayssl's batched augmentations against the usual per-image pipeline.

For the `seed` and `simclr` recipes at 64, 128 and 224 px: images/s of xrayssl's batched path (one call
per batch of 128, torch intra-op threads on all cores) and of a per-image torchvision/PIL pipeline in a
DataLoader with one worker per core (what lightly's transforms do; lightly's own SimCLRTransform
without colour for `simclr`). Then the share of one SimCLR training step (ResNet-18, batch 128, two
views) spent in augmentation at 64 and 128 px.

    python benchmarks/bench_augment.py [--images 1024] [--steps 3]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image

from xrayssl.augment import parse_pipeline
from xrayssl.data.synthetic import SynthConfig, generate


def chessboard_pil(img: Image.Image, cell: int, shift: int) -> Image.Image:
    """The study's chessboard, one image at a time with NumPy (how a per-image pipeline writes it)."""
    a = np.array(img)
    out = a.copy()
    for y in range(0, a.shape[0], cell):
        for x in range(0, a.shape[1], cell):
            dy, dx = np.random.randint(-shift, shift + 1, 2)
            out[y : y + cell, x : x + cell] = np.roll(a[y : y + cell, x : x + cell], (dy, dx), axis=(0, 1))
    return Image.fromarray(out)


def per_image_transform(recipe: str, size: int):
    if recipe == "simclr":
        from lightly.transforms import SimCLRTransform

        t = SimCLRTransform(
            input_size=size,
            cj_prob=0.0,
            random_gray_scale=0.0,
            normalize=None,
            vf_prob=0.0,
            rr_prob=0.0,
            min_scale=0.2,
            hf_prob=0.5,
            gaussian_blur=0.5,
        )
        return lambda img: t.transforms[0](img)  # one view, as xrayssl's path below makes one view
    cell, shift = round(0.078 * size), round(0.0195 * size)
    return T.Compose(
        [
            T.RandomApply([T.GaussianBlur(3, (1.0, 2.0))], p=0.2),
            T.RandomHorizontalFlip(0.5),
            T.RandomRotation(10),
            T.RandomApply([T.Lambda(lambda im: chessboard_pil(im, cell, shift))], p=0.5),
            T.ToTensor(),
            T.RandomErasing(p=0.3, scale=(0.01, 0.1), ratio=(0.5, 2.0), value=0),
        ]
    )


class PILSet(torch.utils.data.Dataset):
    def __init__(self, images: np.ndarray, transform) -> None:
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.transform(Image.fromarray(self.images[i]).convert("RGB" if self.rgb else "L"))

    rgb = False


def per_image_rate(images: np.ndarray, recipe: str, size: int, batch: int) -> float:
    ds = PILSet(images, per_image_transform(recipe, size))
    ds.rgb = recipe == "simclr"  # lightly's transforms expect RGB PIL images
    loader = torch.utils.data.DataLoader(
        ds, batch_size=batch, num_workers=os.cpu_count(), shuffle=True, persistent_workers=False
    )
    t = time.perf_counter()
    n = sum(len(b) for b in loader)
    return n / (time.perf_counter() - t)


def batched_rate(images: np.ndarray, recipe: str, batch: int) -> float:
    aug = parse_pipeline(recipe)
    x = torch.from_numpy(images).unsqueeze(1)
    gen = torch.Generator().manual_seed(0)
    aug(x[:batch], gen)  # warm-up
    t = time.perf_counter()
    for i in range(0, len(x), batch):
        aug(x[i : i + batch], gen)
    return len(x) / (time.perf_counter() - t)


def step_share(images: np.ndarray, recipe: str, steps: int) -> tuple[float, float]:
    """(augmentation seconds, training-step seconds) per SimCLR step of batch 128 (two views)."""
    import torchvision
    from lightly.loss import NTXentLoss
    from lightly.models.modules import SimCLRProjectionHead

    net = torchvision.models.resnet18()  # the standard stem, as in lightly's reference SimCLR example
    net.conv1 = torch.nn.Conv2d(1, 64, 7, 2, 3, bias=False)
    net.fc = torch.nn.Identity()
    head, loss_fn = SimCLRProjectionHead(512, 512, 128), NTXentLoss()
    opt = torch.optim.SGD([*net.parameters(), *head.parameters()], lr=0.06, momentum=0.9)
    aug = parse_pipeline(recipe)
    gen = torch.Generator().manual_seed(0)
    x = torch.from_numpy(images[:128]).unsqueeze(1)
    t_aug = t_step = 0.0
    for s in range(steps + 1):
        t0 = time.perf_counter()
        v1, v2 = aug(x, gen).float() / 255, aug(x, gen).float() / 255
        t1 = time.perf_counter()
        loss = loss_fn(head(net(v1)), head(net(v2)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        t2 = time.perf_counter()
        if s:  # the first step warms up
            t_aug += t1 - t0
            t_step += t2 - t1
    return t_aug / steps, t_step / steps


def gpu_rates(device: str, batch: int = 256) -> None:
    print(f"device: {torch.cuda.get_device_name(device)}, torch {torch.__version__}\n")
    print("| recipe | size | xrayssl batched img/s (GPU, batch 256) |")
    print("|---|---|---|")
    for size in (64, 128, 224):
        x = torch.randint(0, 256, (batch, 1, size, size), dtype=torch.uint8, device=device)
        for recipe in ("seed", "simclr"):
            aug, gen = parse_pipeline(recipe), torch.Generator().manual_seed(0)
            for _ in range(3):
                aug(x, gen)
            torch.cuda.synchronize(device)
            t = time.perf_counter()
            for _ in range(20):
                aug(x, gen)
            torch.cuda.synchronize(device)
            print(f"| {recipe} | {size} | {20 * batch / (time.perf_counter() - t):.0f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--device", default="cpu", help="cuda: time only xrayssl's batched path on the GPU")
    args = ap.parse_args()
    if args.device != "cpu":
        return gpu_rates(args.device)
    base = np.stack([img for img, _ in generate(SynthConfig(n_patients=80, size=224, seed=0), workers=os.cpu_count())])
    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| recipe | size | per-image DataLoader img/s | xrayssl batched img/s | speed-up |")
    print("|---|---|---|---|---|")
    import cv2

    for size in (64, 128, 224):
        imgs = np.stack([cv2.resize(b, (size, size), interpolation=cv2.INTER_AREA) for b in base])
        imgs = np.concatenate([imgs] * (args.images // len(imgs) + 1))[: args.images]
        for recipe in ("seed", "simclr"):
            slow = per_image_rate(imgs, recipe, size, args.batch)
            fast = batched_rate(imgs, recipe, args.batch)
            print(f"| {recipe} | {size} | {slow:.0f} | {fast:.0f} | {fast / slow:.1f}x |", flush=True)
    print("\n| recipe | size | augmentation s/step | train s/step | augmentation share |")
    print("|---|---|---|---|---|")
    for size in (64, 128):
        imgs = np.stack([cv2.resize(b, (size, size), interpolation=cv2.INTER_AREA) for b in base[:128]])
        for recipe in ("seed", "simclr"):
            a, s = step_share(imgs, recipe, args.steps)
            print(f"| {recipe} | {size} | {a:.3f} | {s:.2f} | {100 * a / (a + s):.1f} % |", flush=True)


if __name__ == "__main__":
    main()
