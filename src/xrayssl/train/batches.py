"""Training batches drawn straight from a uint8 image tensor that lives on the training device.

No Dataset, no per-item collation: each epoch is one seeded permutation of the images, split disjointly
across ranks, and a batch is one indexing operation on the device. With ``positives`` the second image of a
pair comes from the same study or patient (MedAug, MICLe); labels are never read for that.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import torch

from xrayssl.catalog import POSITIVES  # noqa: F401  (torch-free: configs check it)


class Partners:
    """For each image, a uniformly drawn *other* image of its group (study or patient); itself when alone."""

    def __init__(self, groups: np.ndarray) -> None:
        codes, _ = pd.factorize(pd.Series(groups).astype(str), sort=False)
        order = np.argsort(codes, kind="stable")  # images grouped together
        sizes = np.bincount(codes)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        position = np.empty(len(codes), np.int64)
        position[order] = np.arange(len(codes)) - starts[codes[order]]
        self.order = torch.as_tensor(order)
        self.start = torch.as_tensor(starts[codes])
        self.size = torch.as_tensor(sizes[codes])
        self.position = torch.as_tensor(position)
        self.share_with_partner = float((sizes[codes] > 1).mean())  # images that can pair across images

    def to(self, device: torch.device) -> Partners:
        for name in ("order", "start", "size", "position"):
            setattr(self, name, getattr(self, name).to(device))
        return self

    def draw(self, idx: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Partners of ``idx``: another member of the group, never ``idx`` itself unless it is alone."""
        size = self.size[idx]
        u = torch.rand(len(idx), generator=gen).to(idx.device)
        step = 1 + (u * (size - 1).clamp(min=0)).long().clamp(max=(size - 2).clamp(min=0))
        step = torch.where(size > 1, step, torch.zeros_like(step))
        return self.order[self.start[idx] + (self.position[idx] + step) % size]


def partner_groups(manifest: pd.DataFrame, positives: str) -> tuple[np.ndarray | None, str | None]:
    """Group ids for ``positives`` (None for 'image'), or a warning and None when the layout has no usable ids.

    A layout whose ids are all distinct per image (plain folders without --patient-regex, where each image is
    its own patient) gives no pair across images: that falls back to 'image' with a warning."""
    if positives == "image":
        return None, None
    column = {"study": "study_id", "patient": "patient_id"}[positives]
    ids = manifest[column].astype(str).to_numpy() if column in manifest else None
    if ids is None or (ids == "").all() or len(set(ids)) == len(ids):
        return None, (
            f"--positives {positives}: no {positives} in this dataset has two images (no usable {column}); "
            "falling back to 'image' positives (two views of one image)"
        )
    return ids, None


class Batches:
    """Iterable of batches for one rank: ``images`` (N, 1, S, S) uint8, optional ``labels`` (N,), optional
    ``partners``. An epoch yields ``num_samples`` draws (default N; more repeats the permutation, as a
    label-fraction run does to keep a full epoch's steps) split across ``world`` ranks, ``drop_last`` batches.

    Items: ``x`` or ``(x, x_partner)`` or ``(x, y)``; all on the images' device."""

    def __init__(
        self,
        images: torch.Tensor,
        batch_size: int,
        seed: int,
        labels: torch.Tensor | None = None,
        partners: Partners | None = None,
        num_samples: int | None = None,
        shuffle: bool = True,
        drop_last: bool = True,
    ) -> None:
        self.images, self.labels, self.partners = images, labels, partners
        self.batch_size, self.seed, self.shuffle, self.drop_last = batch_size, seed, shuffle, drop_last
        self.num_samples = num_samples or len(images)
        self.epoch, self.rank, self.world = 0, 0, 1
        self.crossed = torch.zeros((), dtype=torch.long)  # pairs whose two images differ
        self.pairs = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def set_rank(self, rank: int, world: int) -> None:
        self.rank, self.world = rank, world

    @property
    def device(self) -> torch.device:
        return self.images.device

    def to(self, device: torch.device | str) -> Batches:
        """Move the images (and pairing tables) to ``device`` once; they stay there for the whole run."""
        self.images = self.images.to(device, non_blocking=True)
        self.labels = None if self.labels is None else self.labels.to(device)
        self.partners = None if self.partners is None else self.partners.to(self.images.device)
        self.crossed = self.crossed.to(self.images.device)
        return self

    def _per_rank(self) -> int:
        return self.num_samples // self.world

    def __len__(self) -> int:
        n = self._per_rank()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def indices(self) -> torch.Tensor:
        """This rank's sample order for the current epoch: disjoint from every other rank's."""
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        n = len(self.images)
        if self.shuffle:
            reps = -(-self.num_samples // n)
            order = torch.cat([torch.randperm(n, generator=gen) for _ in range(reps)])[: self.num_samples]
        else:
            order = torch.arange(self.num_samples) % n
        per_rank = self._per_rank()
        return order[self.rank * per_rank : (self.rank + 1) * per_rank]

    def __iter__(self):
        order = self.indices().to(self.device)
        gen = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) * 64 + self.rank + 1)
        for b in range(len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            x = self.images[idx]
            if self.partners is not None:
                other = self.partners.draw(idx, gen)
                self.crossed += (other != idx).sum()
                self.pairs += len(idx)
                yield x, self.images[other]
            elif self.labels is not None:
                yield x, self.labels[idx]
            else:
                yield x

    def crossed_share(self) -> float | None:
        """Share of the pairs drawn so far whose two images differ (None without partners)."""
        return float(self.crossed) / self.pairs if self.partners is not None and self.pairs else None


def place(batches: Batches, device: torch.device, share: float = 0.5) -> str:
    """Put the images on the training device when they fit in ``share`` of its free memory; else keep them on
    the host (pinned) and move each batch, with a message. Returns where they went."""
    if device.type != "cuda":
        return "host"
    free, _ = torch.cuda.mem_get_info(device)
    need = batches.images.element_size() * batches.images.nelement()
    if need > share * free:
        warnings.warn(
            f"training images take {need / 2**20:.0f} MiB, more than half of the GPU's free {free / 2**20:.0f} MiB: "
            "keeping them in host memory and moving each batch",
            stacklevel=2,
        )
        batches.images = batches.images.pin_memory()
        return "host"
    batches.to(device)
    return "device"
