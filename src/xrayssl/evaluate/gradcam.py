"""``xrayssl gradcam``: which image regions drive a model's score for a class, as pictures and a number.

For a pretraining run the classifier is the frozen encoder followed by its fitted probe (standardisation
and logistic regression as one linear layer); for a supervised run, its own classifier (evaluate/heads.py).
The class explained: ``--target CLASS`` (a class or finding), by default the abnormal class for binary and
each image's highest-scoring class for other tasks; the score differentiated is that output's logit (the
log class probability for a CORN head, which has no logit per grade). Grad-CAM maps
(pytorch-grad-cam) are taken at the deepest ResNet stage whose maps are at least 7 px wide (at 64 px input
that is layer2; layer4 would be 2x2), resized to the input and scaled to [0, 1].

Faithfulness is a deletion curve: the most attributed pixels are replaced by the image mean in steps of
10 %, and the model's probability for its own prediction is followed down; the score is the area under
that curve for random deletion order minus the area for Grad-CAM order (higher = more faithful).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from xrayssl.catalog import INFERENCE_BATCH
from xrayssl.data.cache import PreparedCache, load_images
from xrayssl.data.selection import labelled_splits
from xrayssl.errors import XraySSLError
from xrayssl.evaluate.config import GradCamConfig
from xrayssl.evaluate.heads import ProbeClassifier, SupervisedLogits, load_head_model  # noqa: F401 (as before)
from xrayssl.evaluate.heads import probabilities as head_probabilities
from xrayssl.fileio import atomic_write, write_text_atomic
from xrayssl.paths import safe_name
from xrayssl.tasks import Task

_Logit = SupervisedLogits  # a supervised classifier with (B, outputs) logits (its name before tasks)


def load_model(run: str | Path) -> tuple[nn.Module, dict, float | None]:
    """(classifier giving (B, outputs) logits, run config, binary decision threshold on the probability)."""
    return load_head_model(run)


def cam_layer(backbone: nn.Module, size: int) -> tuple[str, nn.Module]:
    """The deepest stage whose feature maps are at least 7 px wide at this input size."""
    kind = getattr(backbone, "kind", "resnet")
    if kind == "cnn":  # a timm CNN: its stages as timm's feature_info names them
        net = backbone.model
        stages = [info["module"] for info in net.feature_info][-4:]
    elif kind == "resnet":
        net, stages = backbone.net, ["layer1", "layer2", "layer3", "layer4"]
    elif hasattr(backbone, "model") and hasattr(backbone.model, "blocks"):  # a timm ViT: its last block's tokens
        return f"blocks.{len(backbone.model.blocks) - 1}.norm1", backbone.model.blocks[-1].norm1
    else:
        raise XraySSLError(f"Grad-CAM reads CNN or timm ViT feature maps; this run's backbone is {backbone.name}")
    shapes: dict[str, int] = {}
    hooks = [
        net.get_submodule(n).register_forward_hook(lambda m, i, o, n=n: shapes.__setitem__(n, o.shape[-1]))
        for n in stages
    ]
    with torch.no_grad():
        backbone(torch.zeros(1, 1, size, size))
    for h in hooks:
        h.remove()
    name = next((n for n in reversed(stages[1:]) if shapes.get(n, 0) >= 7), stages[0])
    layer = net.get_submodule(name)
    return name, layer[-1] if isinstance(layer, torch.nn.Sequential) and len(layer) else layer


def _token_grid(backbone: nn.Module, size: int):
    """A timm ViT's tokens (B, N, D) -> its patch tokens on the grid (B, D, h, w), as Grad-CAM reads maps; None
    for backbones whose layers give maps already."""
    if getattr(backbone, "kind", "resnet") != "vit" or not hasattr(backbone, "model"):
        return None
    prefix, side = backbone.model.num_prefix_tokens, size // backbone.patch

    def reshape(t: torch.Tensor) -> torch.Tensor:
        return t[:, prefix:].reshape(len(t), side, side, -1).permute(0, 3, 1, 2)

    return reshape


class _Score(nn.Module):
    """The score Grad-CAM differentiates, one column per class or finding: the logit where the head has one per
    output (binary, findings, softmax classes), the log class probability for CORN (a grade has no logit)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.backbone = model, model.backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(x)
        if getattr(self.model, "kind", "") == "corn":
            return torch.log(head_probabilities(self.model, logits).clamp_min(1e-12))
        return logits.unsqueeze(1) if logits.ndim == 1 else logits


def grad_cam_maps(model: nn.Module, layer: nn.Module, x: torch.Tensor, target: np.ndarray | None = None) -> np.ndarray:
    """(B, H, W) maps in [0, 1] for each image's ``target`` output (default 0: binary's abnormality logit)."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    target = np.zeros(len(x), int) if target is None else np.asarray(target)
    reshape = _token_grid(getattr(model, "backbone", None), x.shape[-1])
    with GradCAM(model=_Score(model), target_layers=[layer], reshape_transform=reshape) as cam:
        maps = cam(input_tensor=x, targets=[ClassifierOutputTarget(int(t)) for t in target])
    maps = np.nan_to_num(maps.astype(np.float32))
    peak = maps.reshape(len(maps), -1).max(1).reshape(-1, 1, 1)
    return np.clip(np.where(peak > 0, maps / np.maximum(peak, 1e-12), 0.0), 0.0, 1.0)


@torch.no_grad()
def deletion_auc(
    model: nn.Module,
    x: torch.Tensor,
    order: np.ndarray,
    positive: np.ndarray,
    steps: int = 10,
    target: np.ndarray | None = None,
) -> np.ndarray:
    """Area under the probability of what the model predicted (the target class where ``positive``, its
    absence elsewhere) as the pixels in ``order`` (B, H*W) are replaced by the image mean."""
    b, _, h, w = x.shape
    flat = x.clone().view(b, -1)
    mean = flat.mean(1, keepdim=True)
    curve = []
    for k in range(steps + 1):
        cut = round(k / steps * h * w)
        y = flat.clone()
        if cut:
            idx = torch.as_tensor(order[:, :cut])
            y.scatter_(1, idx, mean.expand(b, cut))
        prob = _target_prob(model, model(y.view(b, 1, h, w)), target)
        curve.append(np.where(positive, prob, 1 - prob))
    return np.trapezoid(np.stack(curve, 1), dx=1 / steps, axis=1)


OUTCOMES = ("true_positive", "false_positive", "false_negative", "true_negative", "correct", "wrong")
FAITHFULNESS_IMAGES = 64  # deletion curves on up to this many of the shown images: enough for a stable mean


def _target_prob(model: nn.Module, logits: torch.Tensor, target: np.ndarray | None) -> np.ndarray:
    """Each image's probability of its target class or finding (binary: of abnormal)."""
    prob = head_probabilities(model, logits)
    if prob.ndim == 1:
        return prob.numpy()
    return prob[torch.arange(len(prob)), torch.as_tensor(target)].numpy()


def choose_target(task: Task, name: str | None) -> int | None:
    """The output ``--target`` names (binary: only its abnormal class, output 0; the default there); None
    without one for other tasks: each image's highest-scoring class."""
    if name is None:
        return 0 if task.kind == "binary" else None
    if name not in task.classes:
        raise XraySSLError(f"--target {name}: not a class of this run; its classes: {', '.join(task.classes)}")
    if task.kind == "binary":
        if name != task.classes[1]:
            raise XraySSLError(f"--target {name}: a binary model explains its abnormal class ({task.classes[1]})")
        return 0
    return task.classes.index(name)


def targeted(
    task: Task, prob: np.ndarray, labels: np.ndarray, target: int | None, threshold: float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(target output per image, outcome per image, each image's probability of its target). With a target:
    true/false positive/negative for "is it that class" (a finding: is it present); without one (not binary):
    each image's highest-scoring class or finding, correct or wrong."""
    n = len(prob)
    if task.kind == "binary":
        return np.zeros(n, int), outcomes(prob >= threshold, labels == 1), prob
    rows = np.arange(n)
    if target is None:
        pick = prob.argmax(1)
        right = labels[rows, pick] == 1 if labels.ndim == 2 else pick == labels
        return pick, np.where(right, "correct", "wrong"), prob[rows, pick]
    p = prob[:, target]
    truth = labels[:, target] == 1 if labels.ndim == 2 else labels == target
    pred = p >= 0.5 if task.kind == "multilabel" else prob.argmax(1) == target
    return np.full(n, target), outcomes(pred, truth), p


def gradcam(config: GradCamConfig) -> dict[str, Any]:
    """Grad-CAM grids per body part and outcome, and a deletion-curve faithfulness score, in ``config.out``."""
    model, run_config, threshold = load_model(config.run)
    task = getattr(model, "task", Task())
    target = choose_target(task, config.target)
    cache = PreparedCache(run_config["cache"])
    splits = labelled_splits(cache.manifest, run_config.get("body_part"), str(cache.path), cache.task)
    rows, truth = splits[config.split], splits.targets(config.split)  # for the task the model was fitted on
    size = run_config["size"]
    images = load_images(cache, rows["index"].to_numpy(), size)
    x = images.float() / 255
    picks, outcome, prob = targeted(task, probabilities(model, x), truth, target, threshold)
    pred = np.isin(outcome, ("true_positive", "false_positive", "correct", "wrong"))  # predicted its target
    layer_name, layer = cam_layer(model.backbone, size)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(config.seed)
    chosen = choose_images(rows["body_part"].to_numpy(), outcome, config.n, rng)
    shown = np.unique(np.concatenate([pick for _, _, pick in chosen]))
    binary = task.kind == "binary"
    cams = grad_cam_maps(model, layer, x[shown]) if binary else grad_cam_maps(model, layer, x[shown], picks[shown])
    maps = dict(zip(shown.tolist(), cams, strict=True))
    title = f"(threshold {threshold:.2f})" if binary else _target_title(task, target)
    panels = [_panel(out, part, kind, pick, images, maps, prob, title) for part, kind, pick in chosen]
    idx = shown[:FAITHFULNESS_IMAGES]
    result = {
        "run": str(config.run),
        "split": config.split,
        "layer": layer_name,
        "threshold": threshold,
        "target": task.classes[1] if binary else None if target is None else task.classes[target],
        "images": [p["file"] for p in panels],
        "panels": panels,  # what each image shows: the report's headings come from here, not from file names
        "faithfulness": faithfulness(model, x, maps, idx, pred, rng, None if binary else picks),
    }
    write_text_atomic(out / "faithfulness.json", json.dumps(result, indent=2))
    return result


def _target_title(task: Task, target: int | None) -> str:
    return "(each image's top class)" if target is None else f"(target {task.classes[target]})"


@torch.no_grad()
def probabilities(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    """The task's scores of each image ((N,) binary, (N, K) otherwise), in batches."""
    step = INFERENCE_BATCH
    return torch.cat([head_probabilities(model, model(x[i : i + step])) for i in range(0, len(x), step)]).numpy()


def outcomes(pred: np.ndarray, label: np.ndarray) -> np.ndarray:
    """true_positive, false_positive, false_negative or true_negative per image."""
    return np.where(
        pred & label,
        "true_positive",
        np.where(pred, "false_positive", np.where(label, "false_negative", "true_negative")),
    )


def choose_images(
    parts: np.ndarray, outcome: np.ndarray, n: int, rng: np.random.Generator
) -> list[tuple[str, str, np.ndarray]]:
    """Up to ``n`` images drawn per body part and outcome: (part, outcome, sorted indices), empty groups left out."""
    chosen = []
    for part in sorted(set(parts)) or [""]:
        for kind in OUTCOMES:
            pool = np.flatnonzero((parts == part) & (outcome == kind))
            if len(pool):
                chosen.append((part, kind, np.sort(rng.choice(pool, size=min(n, len(pool)), replace=False))))
    return chosen


def _panel(
    out: Path, part: str, kind: str, pick: np.ndarray, images: torch.Tensor, maps: dict, prob: np.ndarray, title: str
) -> dict[str, str]:
    path = out / f"{safe_name(part) if part else 'all'}_{kind}.png"  # body parts come from the data
    heading = f"{part or 'all'} - {kind.replace('_', ' ')} {title}"
    _grid(images[pick, 0].numpy(), np.stack([maps[i] for i in pick]), prob[pick], path, heading)
    return {"file": str(path), "body_part": part or "all", "outcome": kind.replace("_", " ")}


def faithfulness(
    model: nn.Module,
    x: torch.Tensor,
    maps: dict,
    idx: np.ndarray,
    pred: np.ndarray,
    rng: np.random.Generator,
    picks: np.ndarray | None = None,
) -> dict[str, float | int]:
    """Deletion AUC in Grad-CAM order against random order: the score is how much faster Grad-CAM's pixels
    take the model's confidence away."""
    pixels = x.shape[-2] * x.shape[-1]
    cam_order = np.argsort(-np.stack([maps[i] for i in idx]).reshape(len(idx), -1), axis=1, kind="stable")
    rand_order = np.stack([rng.permutation(pixels) for _ in idx])
    extra = {} if picks is None else {"target": picks[idx]}  # binary: the abnormal probability, as before
    cam_auc = deletion_auc(model, x[idx], cam_order, pred[idx], **extra)
    rand_auc = deletion_auc(model, x[idx], rand_order, pred[idx], **extra)
    return {
        "deletion_auc_gradcam": float(cam_auc.mean()),
        "deletion_auc_random": float(rand_auc.mean()),
        "score": float((rand_auc - cam_auc).mean()),
        "n": len(idx),
    }


def _grid(images: np.ndarray, maps: np.ndarray, probs: np.ndarray, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from pytorch_grad_cam.utils.image import show_cam_on_image

    cols = min(8, len(images))
    rows = -(-len(images) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.8 * rows + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (img, cam, p) in enumerate(zip(images, maps, probs, strict=True)):
        rgb = np.repeat(img[..., None].astype(np.float32) / 255, 3, axis=2)
        ax = axes.flat[i]
        ax.imshow(show_cam_on_image(rgb, cam, use_rgb=True))
        ax.set_title(f"p={p:.2f}", fontsize=7)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    with atomic_write(path) as f:
        fig.savefig(f, dpi=110, format="png")
    plt.close(fig)
