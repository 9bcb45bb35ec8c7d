"""Run folders (a low layer beside data, above models only to build the encoder it loads): what a run was
(config), where it ran (versions, hardware), what it cost and produced; loading its encoder. Evaluation and
reports read runs through here, never through train.

Layout (run format version 1):
  config.json     {"run_format_version": 1, "kind": "pretrain"|"supervised", "config": {...},
                   "encoder": {"norm": "xray"|"imagenet"|"grey(M,S)", ...}}  (the encoder's input
                   normalisation, models/norms.py; runs written before it existed are "xray"; timm backbones
                   add in_chans, mean, std, size, patch_multiple and timm_args, what the start expects)
  record.json     versions, hardware, start/end time, wall seconds, images/s, peak memory, pool counts
  loss.csv        step,epoch,seconds,loss
  encoder.pt      backbone state dict (tensors only: loaded with weights_only=True)
  checkpoints/    last.ckpt (Lightning) for --resume
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import shutil
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from xrayssl.catalog import BACKBONE_KINDS, MAX_SIZE, MIN_PROBE_SIZE, is_timm
from xrayssl.configfile import MAX_CONFIG_BYTES, shown_value
from xrayssl.errors import XraySSLError
from xrayssl.fileio import LOCK_NAME, atomic_write, claim_folder, write_text_atomic

RUN_FORMAT_VERSION = 1
HEAD_JSON = "head.json"  # a supervised run's label task and head: {"task": Task.to_json(), "head": "logit"|...}


def environment() -> dict[str, Any]:
    import lightly
    import lightning
    import numpy
    import sklearn

    from xrayssl.version import __version__

    env = {
        "xrayssl": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "lightly": lightly.__version__,
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        env["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return env


def default_precision(accelerator: str) -> str:
    """bf16-mixed on GPU; fp32 on CPU, even with bf16 instructions: there bf16 trains 1.4-1.7x faster, but in
    three paired 10-15 minute runs on the knee images it ended 0.010-0.024 AUROC lower (README)."""
    if torch.cuda.is_available() and accelerator in ("auto", "gpu", "cuda"):
        return "bf16-mixed"
    return "32-true"


def peak_memory() -> dict[str, float]:
    out = {"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if torch.cuda.is_available():
        out["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_config(
    run: Path,
    kind: str,
    config: dict[str, Any],
    norm: str = "xray",
    cache_identity: str | None = None,
    encoder: dict[str, Any] | None = None,
) -> None:
    """``norm``: how the run's encoder normalises its input (an ImageNet start keeps ImageNet's); ``encoder``:
    more of what it expects (a timm backbone's ``input_spec``); ``cache_identity``: what the cache held
    (PreparedCache.identity), checked when the run is resumed."""
    run.mkdir(parents=True, exist_ok=True)
    described = {**(encoder or {}), "norm": norm}
    data = {"run_format_version": RUN_FORMAT_VERSION, "kind": kind, "config": config, "encoder": described}
    if cache_identity:
        data["cache"] = {"identity": cache_identity}
    write_text_atomic(run / "config.json", json.dumps(data, indent=2))


def _rank_zero() -> bool:
    """The process that owns the run folder: DDP's other ranks (started by Lightning with RANK/LOCAL_RANK set)
    write nothing there, so they take no claim."""
    return os.environ.get("RANK", "0") == "0" and os.environ.get("LOCAL_RANK", "0") == "0"


@contextlib.contextmanager
def claimed(run: Path) -> Iterator[None]:
    """Hold ``run`` for this process for as long as the block runs (a second writer is refused whatever the
    timing); a folder this block created and that holds nothing but the claim when it fails is removed, so a
    refused command leaves nothing behind."""
    fresh = not run.exists()
    claim = claim_folder(run) if _rank_zero() else None
    try:
        yield
    except BaseException:
        if fresh and claim and [p.name for p in run.iterdir()] == [LOCK_NAME]:
            shutil.rmtree(run, ignore_errors=True)
        raise
    finally:
        if claim:
            claim.release()


def read_cache_identity(run: str | Path) -> str | None:
    """The identity of the cache a run was started on (None for runs from before identities)."""
    return (_read(run).get("cache") or {}).get("identity")


def _read(run: str | Path) -> dict[str, Any]:
    path = Path(run) / "config.json"
    if not path.is_file():
        raise XraySSLError(f"{run}: not a run folder (no config.json)")
    try:
        data = json.loads(path.read_bytes()[:MAX_CONFIG_BYTES])
    except (OSError, ValueError) as exc:
        raise XraySSLError(f"{path}: unreadable ({' '.join(str(exc).split())[:120]})") from None
    if not isinstance(data, dict) or not isinstance(data.get("config"), dict) or not isinstance(data.get("kind"), str):
        raise XraySSLError(f"{path}: not a run's config.json (an object with 'kind' and 'config' expected)")
    _check_model_settings(data["config"], path)
    if data.get("run_format_version") != RUN_FORMAT_VERSION:
        raise XraySSLError(
            f"{run}: run format version {data.get('run_format_version')}, this xrayssl reads "
            f"version {RUN_FORMAT_VERSION}"
        )
    return data


def _check_model_settings(config: dict[str, Any], path: Path) -> None:
    """The settings that size a model and its inputs, checked before anything is built from them: a damaged or
    hostile ``"size": 100000`` would otherwise allocate a terabyte."""
    size, backbone = config.get("size"), config.get("backbone")
    if not isinstance(size, int) or isinstance(size, bool) or not MIN_PROBE_SIZE <= size <= MAX_SIZE:
        raise XraySSLError(f"{path}: size {shown_value(size)} is not an image side from {MIN_PROBE_SIZE} to {MAX_SIZE}")
    if backbone not in BACKBONE_KINDS and not is_timm(backbone):
        raise XraySSLError(f"{path}: unknown backbone {shown_value(backbone)}")


def read_config(run: str | Path) -> tuple[str, dict[str, Any]]:
    data = _read(run)
    return data["kind"], data["config"]


def read_norm(run: str | Path) -> str:
    """The run encoder's input normalisation (a models/norms.py name)."""
    return read_encoder(run)["norm"]


def read_encoder(run: str | Path) -> dict[str, Any]:
    """What the run's encoder expects: ``norm`` always, a timm backbone's ``timm_args`` etc. where written."""
    from xrayssl.models.norms import check_norm

    encoder = _read(run).get("encoder") or {}
    if not isinstance(encoder, dict):
        raise XraySSLError(f"{run}: config.json's encoder is not an object")
    norm = encoder.get("norm", "xray")
    try:
        check_norm(norm)
    except XraySSLError:
        raise XraySSLError(f"{run}: unknown encoder normalisation '{norm}' (a newer xrayssl wrote it?)") from None
    args = encoder.get("timm_args") or {}
    if not isinstance(args, dict) or not all(isinstance(v, (int, float, bool, str)) for v in args.values()):
        raise XraySSLError(f"{run}: config.json's encoder.timm_args is not an object of plain values")
    return {**encoder, "norm": norm, "timm_args": args}


def _backbone(run: str | Path, config: dict[str, Any]):
    from xrayssl.models.backbones import build_backbone

    encoder = read_encoder(run)
    small_stem, args = config.get("small_stem", False), encoder["timm_args"] or None
    return build_backbone(config["backbone"], small_stem, config["size"], encoder["norm"], args)


def write_record(run: Path, record: dict[str, Any]) -> None:
    write_text_atomic(run / "record.json", json.dumps(record, indent=2, default=str))


def read_record(run: str | Path) -> dict[str, Any]:
    path = Path(run) / "record.json"
    if not path.is_file():
        raise XraySSLError(f"{run}: no record.json (the run has not finished)")
    return json.loads(path.read_text())


def save_weights(module: torch.nn.Module, path: Path) -> None:
    with atomic_write(path) as f:
        torch.save({k: v.detach().cpu() for k, v in module.state_dict().items()}, f)


def load_weights(module: torch.nn.Module, path: Path) -> torch.nn.Module:
    if not path.is_file():
        raise XraySSLError(f"{path}: no weights (did the run finish?)")
    import pickle

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)  # tensors only: never code from a file
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as exc:
        # torch's own message suggests weights_only=False, which would run whatever the file holds: never
        kind = "holds more than tensors" if isinstance(exc, pickle.UnpicklingError) else "is damaged or truncated"
        raise XraySSLError(f"{path}: not loaded, the file {kind}; it is not trusted") from None
    if not isinstance(state, dict):
        raise XraySSLError(f"{path}: not a state dict of tensors")
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:  # missing or unexpected keys, wrong shapes
        first = str(exc).strip().splitlines()[-1].strip()[:160]
        raise XraySSLError(f"{path}: does not fit the run's {type(module).__name__} ({first})") from None
    return module


def load_encoder(run: str | Path):
    """The trained backbone of a run folder (pretraining or supervised) and the run's config."""
    _, config = read_config(run)
    backbone = _backbone(run, config)
    load_weights(backbone, Path(run) / "encoder.pt")
    return backbone.eval(), config


def read_task(run: str | Path):
    """A supervised run's label task (``RUN/head.json``; runs from before tasks are binary)."""
    from xrayssl.tasks import Task

    path = Path(run) / HEAD_JSON
    if not path.is_file():
        return Task()
    try:
        return Task.from_json(json.loads(path.read_bytes()[:MAX_CONFIG_BYTES])["task"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise XraySSLError(f"{path}: unreadable ({' '.join(str(exc).split())[:120]})") from None


def load_classifier(run: str | Path):
    """A supervised run's classifier (backbone + the head of its task) in eval mode, and the run's config."""
    from xrayssl.models.classifier import Classifier

    _, config = read_config(run)
    model = Classifier(_backbone(run, config), read_task(run))
    load_weights(model, Path(run) / "classifier.pt")
    return model.eval(), config
