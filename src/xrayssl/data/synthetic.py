"""Synthetic radiographs: the embedded default dataset (no download, no licence, seconds to make).

Bones are drawn as capsules with a bright cortex, a textured medulla and soft tissue around them; X-ray
attenuation adds where bones overlap. Each patient has stable anatomy (bone size, density, tissue
thickness) across 1-3 studies, each study 1-3 views at different poses. Abnormal studies show one finding:
a fracture (a gap, displaced and angulated with severity), a lytic or sclerotic lesion, joint-space
narrowing with osteophytes (knee), or a metal plate with screws. Findings are drawn large enough to be
seen at 48 px, vary in severity and are not visible in every view, so the task is learnable but not trivial.

Planted nuisance factors, each with a known cure (a positive and a negative control for a whole study; see
docs/augmentations.md). Neither depends on the label:

- **exposure**: each patient's films are developed with their own brightness offset, contrast and gamma
  (``EXPOSURE`` at ``exposure=1``): the SD of an image's mean grey level between patients rises from about
  7 to about 28 (of 255) while a patient's views stay within about 4. Two views of one image then share an
  exposure that tells images apart, a shortcut self-supervised learning takes instead of the anatomy.
  Jittering intensity in every view (``intensity``) takes the shortcut away: the expected effect of
  ``intensity`` is **positive**.
- **side**: a share ``mirror`` of patients are the other side (the anatomy mirrored), with a lead L/R marker
  at a corner that stays the same for the patient. Being left or right says nothing about the finding, so
  the expected effect of ``flip`` is **none**: an instrument that reports one is reading noise.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from xrayssl.configfile import check_bounds
from xrayssl.errors import XraySSLError

BODY_PARTS = ("knee", "forearm", "hand")
FINDINGS = {
    "knee": ("narrowing", "fracture", "lesion", "implant"),
    "forearm": ("fracture", "lesion", "implant"),
    "hand": ("fracture", "lesion", "implant"),
}
# bones (index in _anatomy's list) that lie in the frame, with the in-frame stretch (t from..to) of each
TARGETS = {
    "knee": [(0, 0.6, 0.9), (3, 0.1, 0.45)],
    "forearm": [(0, 0.4, 0.85), (1, 0.4, 0.85)],
    "hand": [(4 * k + j, 0.2, 0.8) for k in range(4) for j in (1, 2)],
}
FINDING_WEIGHTS = {"narrowing": 3.0, "fracture": 3.0, "lesion": 2.0, "implant": 1.0}
# per-patient exposure at exposure=1: gamma = exp(u), contrast = exp(v), brightness = w, with u, v, w uniform in
# these ranges, scaled by SynthConfig.exposure; applied to the film image in [0, 1] as contrast * x**gamma + brightness
EXPOSURE = {"log_gamma": (-0.5, 0.5), "log_contrast": (-0.35, 0.1), "brightness": (-0.05, 0.2)}
# the augmentation each planted factor calls for, and the sign of the effect it should have on a probe's AUROC
PLANTED_EFFECTS = {
    "intensity": {"sign": 1, "factor": "per-patient exposure (brightness, contrast, gamma)"},
    "flip": {"sign": 0, "factor": "mirrored anatomy (left and right sides, with L/R markers)"},
}


@dataclass(frozen=True)
class SynthConfig:
    n_patients: int = field(default=60, metadata={"help": "number of patients", "flags": ["--patients"]})
    size: int = field(default=256, metadata={"help": "image side in px"})
    body_parts: tuple[str, ...] = field(default=BODY_PARTS, metadata={"help": "comma-separated body parts"})
    abnormal_fraction: float = field(default=0.5, metadata={"help": "share of abnormal studies"})
    max_studies: int = field(default=3, metadata={"help": "studies per patient, at most"})
    max_views: int = field(default=3, metadata={"help": "views per study, at most"})
    visible_probability: float = field(
        default=0.85, metadata={"help": "chance that a view of an abnormal study shows its finding"}
    )
    exposure: float = field(
        default=1.0, metadata={"help": "strength of the planted per-patient exposure nuisance (0: none)"}
    )
    mirror: float = field(default=0.5, metadata={"help": "share of patients whose anatomy is mirrored"})
    seed: int = field(default=0, metadata={"help": "seed of the generated patients"})

    def __post_init__(self) -> None:
        object.__setattr__(self, "body_parts", tuple(self.body_parts))  # a list from a flag or a file
        unknown = set(self.body_parts) - set(BODY_PARTS)
        if unknown:
            raise XraySSLError(f"unknown synthetic body part(s) {sorted(unknown)}; valid: {list(BODY_PARTS)}")
        if not 0 <= self.abnormal_fraction <= 1 or self.n_patients < 1:
            raise XraySSLError("need n_patients >= 1 and 0 <= abnormal_fraction <= 1")
        if self.exposure < 0 or not 0 <= self.mirror <= 1:
            raise XraySSLError("need exposure >= 0 and 0 <= mirror <= 1")
        check_bounds(self)  # then anything else out of range (catalog.BOUNDS): NaN, inf, huge


@dataclass
class Bone:
    a: tuple[float, float]  # segment ends in unit coordinates (x right, y down), before the view's pose
    b: tuple[float, float]
    r: float  # radius in unit coordinates


class Canvas:
    """Pixel grid plus the view's pose; draws in unit coordinates."""

    def __init__(self, size: int, angle: float, scale: float, shift: tuple[float, float]) -> None:
        self.size = size
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        # inverse pose: map pixels back into unit coordinates of the canonical drawing
        c, s = np.cos(-angle), np.sin(-angle)
        u, v = (xx / size - 0.5 - shift[0]) / scale, (yy / size - 0.5 - shift[1]) / scale
        self.x, self.y = c * u - s * v + 0.5, s * u + c * v + 0.5
        self.px = 1.0 / (size * scale)  # one pixel in unit coordinates

    def distance(self, bone: Bone) -> np.ndarray:
        ax, ay = bone.a
        bx, by = bone.b
        dx, dy = bx - ax, by - ay
        t = np.clip(((self.x - ax) * dx + (self.y - ay) * dy) / max(dx * dx + dy * dy, 1e-9), 0, 1)
        return np.hypot(self.x - ax - t * dx, self.y - ay - t * dy)

    def bone(self, bone: Bone, d: np.ndarray, density: float, texture: np.ndarray) -> np.ndarray:
        inside = np.clip((bone.r - d) / (1.5 * self.px), 0, 1)
        cortex = max(bone.r * 0.28, 2 * self.px)
        rim = np.clip(1 - (bone.r - d) / cortex, 0, 1)
        return inside * density * (0.45 + 0.06 * texture + 0.45 * rim)

    def disc(self, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
        q = np.hypot((self.x - cx) / rx, (self.y - cy) / ry)
        return np.clip((1 - q) * min(rx, ry) / (1.5 * self.px), 0, 1)


def _anatomy(part: str, rng: np.random.Generator, gap: float) -> tuple[list[Bone], list[tuple]]:
    """Canonical bones of a body part, and joint margins (x, y) where osteophytes may grow."""
    if part == "knee":
        fem_y = 0.44
        tib_y = fem_y + 0.07 + gap + 0.06
        bones = [
            Bone((0.5, -0.3), (0.5, fem_y - 0.04), 0.105),
            Bone((0.39, fem_y), (0.61, fem_y), 0.07),
            Bone((0.37, tib_y), (0.63, tib_y), 0.06),
            Bone((0.5, tib_y), (0.5, 1.3), 0.085),
            Bone((0.655, tib_y + 0.09), (0.655, 1.3), 0.028),
        ]
        margins = [(0.31, tib_y - 0.05), (0.69, tib_y - 0.05), (0.33, fem_y + 0.05), (0.67, fem_y + 0.05)]
        return bones, margins
    if part == "forearm":
        bones = [
            Bone((0.41, -0.3), (0.43, 0.95), 0.045),
            Bone((0.59, -0.3), (0.57, 0.95), 0.04),
            Bone((0.38, 0.97), (0.58, 0.99), 0.05),
        ]
        return bones, [(0.36, 0.9), (0.62, 0.9)]
    bones = []  # hand: metacarpals and phalanges of four rays with joint gaps
    for k in range(4):
        x0 = 0.32 + 0.12 * k + rng.normal(0, 0.005)
        y = 1.25
        for length, r in ((0.36, 0.033), (0.2, 0.026), (0.13, 0.022), (0.09, 0.019)):
            bones.append(Bone((x0, y), (x0 + (k - 1.5) * 0.012, y - length), r))
            y -= length + 0.03
            x0 += (k - 1.5) * 0.012
    return bones, [(b.b[0] - b.r, b.b[1]) for b in bones[::4]]


def _split_bone(bone: Bone, t: float, gap: float, offset: float, tilt: float) -> list[Bone]:
    """A fracture: the bone broken at t with a gap; the distal piece displaced and tilted."""
    ax, ay = bone.a
    bx, by = bone.b
    dx, dy = bx - ax, by - ay
    length = np.hypot(dx, dy)
    ux, uy = dx / length, dy / length
    fx, fy = ax + t * dx, ay + t * dy
    prox = Bone(bone.a, (fx - ux * gap / 2, fy - uy * gap / 2), bone.r)
    sx, sy = fx + ux * gap / 2 - uy * offset, fy + uy * gap / 2 + ux * offset
    rest = (1 - t) * length
    c, s = np.cos(tilt), np.sin(tilt)
    ex, ey = c * ux - s * uy, s * ux + c * uy
    return [prox, Bone((sx, sy), (sx + ex * rest, sy + ey * rest), bone.r)]


def render_view(part: str, anatomy: dict, finding: dict | None, rng: np.random.Generator, size: int) -> np.ndarray:
    """One radiograph (uint8, size x size) of a body part with an optional finding."""
    pose = Canvas(
        size, rng.normal(0, 0.12), anatomy["scale"] * rng.uniform(0.9, 1.1), (rng.normal(0, 0.04), rng.normal(0, 0.04))
    )
    gap = anatomy["gap"] * (finding["narrowing"] if finding and finding["kind"] == "narrowing" else 1.0)
    bones, margins = _anatomy(part, np.random.default_rng(anatomy["layout_seed"]), gap)
    extra = np.zeros((size, size), np.float32)
    if finding and finding["kind"] == "fracture":
        i = finding["bone"]
        bones[i : i + 1] = _split_bone(bones[i], finding["t"], finding["gap"], finding["offset"], finding["tilt"])
    texture = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), 1.2)
    texture /= texture.std() + 1e-6
    density = anatomy["density"]
    distances = [pose.distance(b) for b in bones]
    attenuation = sum(pose.bone(b, d, density, texture) for b, d in zip(bones, distances))
    d_min = np.min([d - b.r for b, d in zip(bones, distances)], axis=0)
    tissue = np.clip((anatomy["tissue"] - d_min) / 0.03, 0, 1) * 0.22
    if finding and finding["kind"] == "lesion":
        b = bones[finding["bone"]]
        cx, cy = b.a[0] + finding["t"] * (b.b[0] - b.a[0]), b.a[1] + finding["t"] * (b.b[1] - b.a[1])
        spot = pose.disc(cx, cy, b.r * finding["radius"], b.r * finding["radius"] * finding["aspect"])
        extra += np.float32(finding["sign"] * finding["strength"] * density) * spot * (attenuation > 0.05)
    if finding and finding["kind"] == "narrowing":
        for (mx, my), r in zip(margins, finding["spurs"]):
            extra += 0.7 * density * pose.disc(mx, my, r, r * 1.4)
    if finding and finding["kind"] == "implant":
        b = bones[finding["bone"]]
        nx, ny = b.b[1] - b.a[1], -(b.b[0] - b.a[0])
        norm = np.hypot(nx, ny)
        nx, ny = nx / norm * b.r * 1.1, ny / norm * b.r * 1.1
        t0, t1 = finding["t"], min(1.0, finding["t"] + finding["length"])
        p0 = (b.a[0] + t0 * (b.b[0] - b.a[0]) + nx, b.a[1] + t0 * (b.b[1] - b.a[1]) + ny)
        p1 = (b.a[0] + t1 * (b.b[0] - b.a[0]) + nx, b.a[1] + t1 * (b.b[1] - b.a[1]) + ny)
        metal = np.clip((0.025 - pose.distance(Bone(p0, p1, 0))) / pose.px, 0, 1)
        for k in range(finding["screws"]):
            t = t0 + (t1 - t0) * (k + 0.5) / finding["screws"]
            cx, cy = b.a[0] + t * (b.b[0] - b.a[0]), b.a[1] + t * (b.b[1] - b.a[1])
            screw = Bone((cx + nx, cy + ny), (cx - 0.9 * nx, cy - 0.9 * ny), 0)
            metal = np.maximum(metal, np.clip((0.012 - pose.distance(screw)) / pose.px, 0, 1))
        extra += 1.6 * metal
    img = 0.04 + tissue + 0.75 * attenuation + extra
    yy = np.linspace(-1, 1, size, dtype=np.float32)[:, None]
    img = img * (1 + anatomy["heel"] * yy)  # anode heel effect: exposure falls off along one axis
    img = 1 - np.exp(-img * rng.uniform(1.6, 2.4))  # film response: compresses dense regions
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), rng.uniform(0.5, 1.1))
    img += rng.normal(0, rng.uniform(0.012, 0.03), img.shape).astype(np.float32)
    if anatomy["side"] == "R":  # the other side: the canonical drawing is a left limb
        img = img[:, ::-1]
    film = np.clip(img / max(float(np.percentile(img, 99.7)), 1e-3) * (235 / 255), 0, 1)
    out = (expose(film, anatomy["exposure"]) * 255).astype(np.uint8)
    if anatomy["marker"] is not None:  # lead side marker, burnt in at full brightness whatever the exposure
        corner = (int(size * anatomy["marker"]), int(size * 0.12))
        cv2.putText(out, anatomy["side"], corner, cv2.FONT_HERSHEY_SIMPLEX, size / 400, 250, 2)
    return out


def expose(film: np.ndarray, exposure: dict[str, float]) -> np.ndarray:
    """A film image in [0, 1] as the patient's exposure renders it: contrast * film**gamma + brightness."""
    return np.clip(exposure["contrast"] * film ** exposure["gamma"] + exposure["brightness"], 0, 1)


def draw_exposure(rng: np.random.Generator, strength: float) -> dict[str, float]:
    """One patient's exposure (``EXPOSURE`` scaled by ``strength``; 0 gives the identity)."""
    u, v, w = (rng.uniform(*EXPOSURE[k]) * strength for k in ("log_gamma", "log_contrast", "brightness"))
    return {"gamma": round(float(np.exp(u)), 4), "contrast": round(float(np.exp(v)), 4), "brightness": round(w, 4)}


def _finding(part: str, rng: np.random.Generator) -> dict:
    kinds = FINDINGS[part]
    weights = np.array([FINDING_WEIGHTS[k] for k in kinds])
    kind = str(rng.choice(kinds, p=weights / weights.sum()))
    severity = rng.uniform(0.5, 1.0)
    f = {
        "kind": kind,
        "severity": round(float(severity), 3),
    }
    bone, t_lo, t_hi = TARGETS[part][int(rng.integers(len(TARGETS[part])))]
    f |= {"bone": bone, "t": float(rng.uniform(t_lo, t_hi))}
    if kind == "fracture":
        f |= {
            "gap": 0.03 + 0.04 * severity,
            "offset": float(rng.uniform(0.5, 1.0) * 0.07 * severity),
            "tilt": float(rng.normal(0, 0.3) * severity),
        }
    elif kind == "lesion":
        f |= {
            "radius": 1.0 + 0.6 * severity,
            "aspect": float(rng.uniform(0.7, 1.5)),
            "sign": float(rng.choice([-1.0, 1.0], p=[0.7, 0.3])),
            "strength": 0.6 + 0.4 * severity,
        }
    elif kind == "narrowing":
        spurs = rng.uniform(0.02, 0.045, 4) * (0.5 + 0.5 * severity)
        f |= {"narrowing": 0.5 - 0.45 * severity, "spurs": spurs.tolist()}
    else:
        f |= {"length": float(rng.uniform(0.15, 0.3)), "screws": int(rng.integers(2, 5)), "t": t_lo}
    return f


def patient_images(config: SynthConfig, p: int) -> list[tuple[np.ndarray, dict]]:
    """All views of patient ``p``: seeded by (seed, p), so a patient is the same whatever n_patients is."""
    rng = np.random.default_rng([config.seed, p])
    part = str(rng.choice(config.body_parts))
    anatomy = {
        "scale": float(rng.uniform(0.85, 1.1)),
        "density": float(rng.uniform(0.75, 1.1)),
        "tissue": float(rng.uniform(0.05, 0.12)),
        "gap": float(rng.uniform(0.035, 0.055)),
        "heel": float(rng.uniform(-0.15, 0.15)),
        "layout_seed": int(rng.integers(1 << 31)),
    }
    # planted nuisance factors, drawn from their own stream so that the anatomy and findings of a patient stay
    # the same whatever their strength
    nuisance = np.random.default_rng([config.seed, p, 1])
    anatomy["exposure"] = draw_exposure(nuisance, config.exposure)
    anatomy["side"] = "R" if nuisance.random() < config.mirror else "L"
    anatomy["marker"] = float(nuisance.choice([0.05, 0.85])) if nuisance.random() < 0.6 else None
    out = []
    for s in range(int(rng.integers(1, config.max_studies + 1))):
        abnormal = rng.random() < config.abnormal_fraction
        finding = _finding(part, rng) if abnormal else None
        for v in range(int(rng.integers(1, config.max_views + 1))):
            visible = finding if finding and rng.random() < config.visible_probability else None
            image = render_view(part, anatomy, visible, rng, config.size)
            out.append(
                (
                    image,
                    {
                        "label": int(abnormal),
                        "body_part": part,
                        "patient_id": f"patient{p:05d}",
                        "study_id": f"patient{p:05d}/study{s + 1}",
                        "view": v + 1,
                        "finding": finding["kind"] if finding else "none",
                        "severity": finding["severity"] if finding else 0.0,
                        "visible": visible is not None,
                        "side": anatomy["side"],
                        **{f"exposure_{k}": v for k, v in anatomy["exposure"].items()},
                    },
                )
            )
    return out


def generate(config: SynthConfig | None = None, workers: int = 1) -> Iterator[tuple[np.ndarray, dict]]:
    """Yield (image, record) pairs, patient by patient; record has label, body_part, patient_id,
    study_id, view, finding, severity and whether the finding is visible in that view."""
    config = config or SynthConfig()
    if workers <= 1:
        for p in range(config.n_patients):
            yield from patient_images(config, p)
        return
    import multiprocessing as mp
    from functools import partial

    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    with mp.get_context(method).Pool(workers) as pool:
        for views in pool.imap(partial(patient_images, config), range(config.n_patients), chunksize=2):
            yield from views


def write_dataset(out: str | Path, config: SynthConfig | None = None, layout: str = "csv", workers: int = 1) -> Path:
    """Write PNGs plus labels: ``csv`` (images/ + labels.csv) or ``mura`` (MURA v1.1 tree and CSVs).

    Returns the folder to pass to ``xrayssl data prepare``."""
    out = Path(out)
    config = config or SynthConfig()
    if layout == "csv":
        rows = []
        for image, rec in generate(config, workers):
            rel = Path("images") / rec["study_id"] / f"view{rec['view']}.png"
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(out / rel), image)
            rows.append({"path": rel.as_posix(), **rec})
        with open(out / "labels.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return out
    if layout == "mura":
        root = out / "MURA-v1.1"
        records: dict[str, list[str]] = {"train": [], "valid": []}
        studies: dict[str, dict[str, int]] = {"train": {}, "valid": {}}
        for image, rec in generate(config, workers):
            number = int(rec["patient_id"][7:])
            folder = "valid" if number % 5 == 4 else "train"  # MURA's valid patients are disjoint from train
            study = f"study{rec['study_id'].rsplit('study', 1)[1]}_{'positive' if rec['label'] else 'negative'}"
            rel = f"{folder}/XR_{rec['body_part'].upper()}/{rec['patient_id']}/{study}"
            (root / rel).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / rel / f"image{rec['view']}.png"), image)
            records[folder].append(f"MURA-v1.1/{rel}/image{rec['view']}.png")
            studies[folder][f"MURA-v1.1/{rel}/"] = rec["label"]
        for folder in ("train", "valid"):
            (root / f"{folder}_image_paths.csv").write_text("".join(f"{p}\n" for p in records[folder]))
            (root / f"{folder}_labeled_studies.csv").write_text(
                "".join(f"{s},{lab}\n" for s, lab in studies[folder].items())
            )
        return root
    raise XraySSLError(f"unknown layout '{layout}'; valid: csv, mura")
