"""Execute a study: claim runs from the study's store one at a time until none is left for this shard.

Each run is pretrain + probe (or a floor, or the supervised baseline), in its own folder under ``runs/``;
a run interrupted mid-way resumes from its last checkpoint. ``workers`` > 1 starts that many processes on
this machine (one GPU each where there are several), which die with the process that started them;
``shard`` i/n takes every n-th run so that machines sharing the study split it between them.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import shutil
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from xrayssl.errors import XraySSLError
from xrayssl.evaluate.config import ProbeConfig, SupervisedEvalConfig
from xrayssl.study.analysis.frame import TASK_KEY
from xrayssl.study.backend import DB_NAME, LOCATION, network_filesystem
from xrayssl.study.config import StudyConfig
from xrayssl.study.lifeline import exit_with_parent
from xrayssl.study.plan import REFERENCE_KIND, duration, plan, run_folder_name
from xrayssl.study.store import FINAL_KIND, Store, StoreConfig
from xrayssl.tasks import METRIC_LABELS

CONFIG_KEY = "config"
CACHE_KEY = "cache_identity"  # what the study's cache held when it started (data/cache.py, PreparedCache.identity)


def store_config(store: StoreConfig | str | None) -> StoreConfig:
    return store if isinstance(store, StoreConfig) else StoreConfig(url=store or "")


def open_study(
    config: StudyConfig | None, out: str | Path, store: StoreConfig | str | None = None
) -> tuple[StudyConfig, Store]:
    """Create the study (config + planned runs) or open an existing one; a different config is refused.

    A new study is checked in full (its cache, its body parts, its plan) before anything is written, so that
    a mistyped command leaves no folder and no database behind.
    """
    out, store = Path(out), store_config(store)
    if config is None:
        if not (out / DB_NAME).is_file() and not (out / LOCATION).is_file():
            raise XraySSLError(f"{out}: no study here yet; give a cache (and options or --config) to start one")
        opened = Store(out, store)
        stored = opened.get_meta(CONFIG_KEY)
        if stored is None:
            raise XraySSLError(f"{out}: no study here yet; give a cache (and options or --config) to start one")
        config = StudyConfig.from_dict({**stored, "out": str(out)})
        _same_cache(opened, config)
        opened.add_runs(plan(config))  # a study killed between writing its config and its runs
        return config, opened
    config.check_views()
    config.check_cache()
    config.check_recipes()
    _check_accelerator(config)
    runs = plan(config)
    wanted = {k: v for k, v in config.to_dict().items() if k != "out"}
    opened = Store(out, store, create=True)
    kept = opened.set_meta_once(CONFIG_KEY, wanted)
    grown = kept != wanted
    if grown:
        check_growth(out, kept, wanted, opened, runs)
        opened.set_meta(CONFIG_KEY, wanted)
    else:
        _store_dataset(config)
    _same_cache(opened, config)
    added = opened.add_runs(runs)
    if grown and added:
        opened.reopen(FINAL_KIND)  # the final step reads every run: it runs again over the grown study
        print(f"study {out}: grown by {added} run(s); the finished runs are kept as they are", flush=True)
    return config, opened


# settings whose change only adds runs (every finished run keeps its id and parameters); any other change would
# make the finished runs answer a different question, and is refused
GROWABLE = (
    "seeds", "recipes", "methods", "references", "imagenet_weights", "augmentations", "design", "floors",
    "body_parts", "abnormal_fractions",
)  # fmt: skip


def check_growth(
    out: Path, kept: dict[str, Any], wanted: dict[str, Any], store: Store, runs: list[tuple[str, str, dict]]
) -> None:
    """A study folder holding other settings is grown only when the new settings add runs and change none of
    those it holds; otherwise the refusal names the setting."""
    diff = sorted(k for k in set(kept) | set(wanted) if kept.get(k) != wanted.get(k))
    fixed = [k for k in diff if k not in GROWABLE]
    if fixed:
        k = fixed[0]
        raise XraySSLError(
            f"{out}: {k} changed ({_short(kept.get(k))} -> {_short(wanted.get(k))}): the study's runs were made with "
            f"the first; a study grows only by {', '.join(GROWABLE[:4])} (...), so give {k} as it was, or "
            "choose another --out"
        )
    planned = {rid: params for rid, _, params in runs}
    for r in store.runs():
        if r["kind"] == FINAL_KIND:
            continue
        if r["id"] not in planned or planned[r["id"]] != r["params"]:
            what = "leave out" if r["id"] not in planned else "change"
            raise XraySSLError(
                f"{out}: the new {', '.join(diff)} would {what} run {r['id']}, which the study holds; a study only "
                "grows (more seeds, recipes, methods or references): give the old values too, or another --out"
            )


def _check_accelerator(config: StudyConfig) -> None:
    from xrayssl.train.harness import check_accelerator

    check_accelerator(config.shared_pretrain().get("accelerator", "auto"))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _store_dataset(config: StudyConfig) -> None:
    """The cache's images per split, stored when the study starts (the report's guardrails read the validation
    split's size while the study still runs; the final step writes it again with the preview)."""
    from xrayssl.study.preview import DATASET_JSON, dataset_summary, write_json

    with contextlib.suppress(XraySSLError, OSError):
        write_json(Path(config.out) / DATASET_JSON, dataset_summary(config.cache))


def _same_cache(store: Store, config: StudyConfig) -> None:
    """Every run of a study reads one dataset: the cache's identity is recorded when the study starts (or, for a
    study from before identities, when it is first resumed), and a cache that has changed since is refused."""
    from xrayssl.data.cache import PreparedCache

    cache = PreparedCache(config.cache)
    current = cache.identity
    kept = store.set_meta_once(CACHE_KEY, {"identity": current, "path": str(config.cache)})
    store.set_meta(TASK_KEY, cache.task.to_json())  # what every run's labels are: the report names its metric
    if kept["identity"] != current:
        raise XraySSLError(
            f"{config.out}: the cache {config.cache} is not the one this study started on (identity "
            f"{kept['identity']}, now {current}): its runs would compare two datasets; prepare the new data into "
            "another folder, or start another --out"
        )


def parse_shard(text: str | None) -> tuple[int, int]:
    if not text:
        return 0, 1
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise XraySSLError(f"--shard '{text}': write i/n, e.g. 0/4 (i from 0 to n-1)") from None
    if not 0 <= i < n:
        raise XraySSLError(f"--shard '{text}': i must be in 0..n-1")
    return i, n


def run_study(
    config: StudyConfig | None,
    out: str | Path,
    *,
    workers: int = 1,
    shard: str | None = None,
    progress: bool = True,
    store: StoreConfig | str | None = None,
) -> dict[str, int]:
    i, n = parse_shard(shard)
    cfg = store_config(store)
    config, opened = open_study(config, out, cfg)
    _warn_network_sqlite(opened)
    retried = opened.retry_failed()
    counts = opened.counts()
    total = sum(counts.values())
    print(
        f"study {out}: {total} runs, {counts.get('done', 0)} done already"
        + (f", {retried} failed run(s) retried" if retried else "")
        + (f"; shard {i}/{n}" if n > 1 else "")
        + ("" if opened.location.sqlite else f"; runs in {opened.shown}"),
        flush=True,
    )
    if workers <= 1:
        _claim_until_done(str(out), i, n, progress, cfg, None, None)
    else:
        _spawn(str(out), i, n, workers, cfg, opened)
    counts = opened.counts()
    print(f"study {out}: {counts.get('done', 0)}/{total} runs done, {counts.get('failed', 0)} failed", flush=True)
    for row in opened.runs(status="failed"):
        print(f"  failed {row['id']}: {(row['error'] or '').strip().splitlines()[-1:]}", flush=True)
    return counts


def status(out: str | Path, store: StoreConfig | str | None = None) -> list[str]:
    """``study --status``: counts, each running run with whether its worker is alive, then the failures."""
    opened = Store(out, store_config(store))
    now, counts = time.time(), opened.counts()
    lines = []
    for r in opened.runs(status="running"):
        where = f"{r['id']} on {r['host']} (pid {r['pid']}"
        dead = opened.owner_dead(r, now)
        if dead:
            counts["running"] -= 1
            counts["dead"] = counts.get("dead", 0) + 1
            lines.append(f"  dead     {where}: {dead}; it is handed out again at the next claim)")
        else:
            lines.append(f"  running  {where}, heartbeat {now - (r['heartbeat'] or now):.0f} s ago)")
    for r in opened.runs(status="failed"):
        lines.append(f"  failed   {r['id']}: {(r['error'] or '').strip().splitlines()[-1:]}")
    return [f"{out}: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()) if v), *lines]


def _warn_network_sqlite(store: Store) -> None:
    fstype = network_filesystem(store.folder) if store.location.sqlite else None
    if fstype:
        print(
            f"note: {store.path} is on a network file system ({fstype}), where SQLite's file locks are often "
            "broken: keep every worker on this machine, or use --store postgresql://... across machines "
            "(docs/studies.md)",
            file=sys.stderr,
            flush=True,
        )


def _spawn(out: str, shard: int, n_shards: int, workers: int, cfg: StoreConfig, store: Store) -> None:
    import torch

    gpus = torch.cuda.device_count()
    threads = max(1, (os.cpu_count() or 1) // workers)
    ctx = mp.get_context("spawn")
    logs = Path(out) / "logs"
    logs.mkdir(exist_ok=True)
    procs = []
    for w in range(workers):
        device = str(w % gpus) if gpus > 1 else None
        log = str(logs / f"worker-{w}.log")
        args = (out, shard, n_shards, False, cfg, device, threads, log, os.getpid())
        procs.append(ctx.Process(target=_claim_until_done, args=args, name=f"xrayssl-worker-{w}"))
    for p in procs:
        p.start()
    print(f"{workers} workers ({threads} CPU threads each; logs in {logs})", flush=True)
    seen = len(store.runs(status="done"))  # report only what finishes from now on
    while any(p.is_alive() for p in procs):
        time.sleep(2)
        seen = _report_progress(store, seen, workers)
    for p in procs:
        p.join()
    _report_progress(store, seen, workers)


def _report_progress(store: Store, seen: int, workers: int = 1) -> int:
    runs = store.runs()
    done = sorted((r for r in runs if r["status"] == "done" and r["finished"]), key=lambda r: r["finished"])
    left = time_left(runs, workers) if len(done) > seen else None
    for r in done[seen:]:
        eta = f"; {left} left" if left and r is done[-1] else ""
        print(f"[{done.index(r) + 1}/{len(runs)}] {_line(r['id'], r['result'])}{eta}", flush=True)
    return len(done)


def _line(run_id: str, result: dict[str, Any]) -> str:
    if result.get("skipped"):
        return f"{run_id}: skipped ({result['skipped']})"
    value, label = result.get("test_score"), METRIC_LABELS.get(result.get("metric", "auroc"), "score")
    val = result.get("val_score")
    val = f" (val {val:.3f})" if val is not None else ""
    score = f"test {label} {value:.3f}{val}" if value is not None else "ok"
    return f"{run_id}: {score}, {result.get('seconds', 0):.0f} s"


def _claim_until_done(
    out: str,
    shard: int,
    n_shards: int,
    progress: bool,
    cfg: StoreConfig,
    device: str | None,
    threads: int | None,
    log: str | None = None,
    parent: int | None = None,
) -> None:
    """One worker: claim, execute, record, until nothing is left for it."""
    if parent is not None:
        exit_with_parent(parent)
    if device is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = device
    with open(log, "a") if log else contextlib.nullcontext() as sink:
        if sink is not None:
            sys.stdout = sys.stderr = sink
        if threads:
            import torch

            torch.set_num_threads(threads)
        config, store = open_study(None, out, cfg)
        while (claim := store.claim(shard, n_shards)) is not None:
            _execute(config, store, claim, progress)


def _execute(config: StudyConfig, store: Store, claim: dict[str, Any], progress: bool) -> None:
    run_id = claim["id"]
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(store.config.heartbeat_seconds):
            with contextlib.suppress(Exception):  # a missed beat is harmless; only a long silence frees the run
                store.heartbeat(run_id)

    threading.Thread(target=beat, daemon=True, name="xrayssl-heartbeat").start()
    start = time.perf_counter()
    try:
        folder = Path(config.out) / "runs" / run_folder_name(run_id)
        with _silenced():  # a study prints one line per run: no Lightning bars, tips or warnings inside it
            result = EXECUTORS[claim["kind"]](config, store, folder, claim["params"], progress)
        result["run"] = folder.relative_to(config.out).as_posix()  # relative: the study folder may move
        result["seconds"] = round(time.perf_counter() - start, 1)
        store.finish(run_id, result)
        counts = store.counts()
        left = time_left(store.runs())
        eta = f"; {left} left" if left else ""
        print(f"[{counts.get('done', 0)}/{sum(counts.values())}] {_line(run_id, result)}{eta}", flush=True)
    except Exception as exc:
        store.fail(run_id, "".join(traceback.format_exception(exc)))
        print(f"run {run_id} failed: {exc}", file=sys.stderr, flush=True)
    finally:
        stop.set()


def time_left(runs: list[dict[str, Any]], workers: int = 1) -> str | None:
    """The study's time left, from the runs finished so far: each run still to do takes the mean time of the
    finished runs of its kind (floors are fast, SSL runs slow), or of all finished runs where none of its kind has
    finished; None when nothing is left (or nothing has finished)."""
    done: dict[str, list[float]] = {}
    for r in runs:
        if r["status"] == "done" and (r["result"] or {}).get("seconds") is not None:
            done.setdefault(r["kind"], []).append(float(r["result"]["seconds"]))
    todo = [r["kind"] for r in runs if r["status"] in ("pending", "running")]
    every = [s for v in done.values() for s in v]
    if not todo or not every:
        return None
    overall = sum(every) / len(every)
    seconds = sum(sum(done[k]) / len(done[k]) if k in done else overall for k in todo)
    return "about " + duration(seconds / max(1, workers))


def _silenced():
    from xrayssl.train.quiet import silenced

    return silenced()


def _quiet() -> None:
    from xrayssl.train.quiet import quiet_lightning

    quiet_lightning()


def _summary(probe_result: dict[str, Any]) -> dict[str, Any]:
    """What the study keeps of a probe's (or a supervised evaluation's) result: the task's primary metric on test
    with its interval and on validation, named by ``metric``, and the full ``overall`` metrics."""
    overall = probe_result["overall"]
    metric = overall.get("primary", "auroc")
    probe = probe_result.get("probe", {})
    return {
        "metric": metric,
        "test_score": overall[metric],
        "test_score_ci": overall[f"{metric}_ci"],
        "val_score": probe.get("val_score", probe_result.get(f"val_{metric}")),
        # what the report's guardrails read: the probe's C candidates on validation, and the images per split
        "val_score_by_C": probe.get("val_score_by_C"),
        "n": probe_result.get("n"),
        "overall": overall,
        "per_body_part": probe_result.get("per_body_part", {}),
        "predictions": probe_result.get("predictions"),  # file name in the run folder: ROC curves, paired effects
    }


def _ssl(config: StudyConfig, store: Store, folder: Path, p: dict[str, Any], progress: bool) -> dict[str, Any]:
    _quiet()
    from xrayssl import runs
    from xrayssl.evaluate.run_probe import probe
    from xrayssl.train.pretrain import pretrain

    resume = (folder / "config.json").is_file()
    if not resume and folder.exists():
        shutil.rmtree(folder)  # a run that died before writing its config: nothing to keep
    cfg = config.pretrain_config(
        out=str(folder),
        method=p["method"],
        augs=p["spec"],
        seed=p["seed"],
        body_part=p["body_part"],
        pretrain_abnormal_fraction=p["abnormal_fraction"],
        **({"init": p["init"]} if "init" in p else {}),  # the start, where the study varies it
    )
    pretrain(cfg, resume=resume, progress_bar=False)  # the study's own line per run instead of Lightning's bars
    result = probe(ProbeConfig(source=str(folder), n_boot=config.n_boot))
    record = runs.read_record(folder)
    # a finished run needs only encoder.pt: its checkpoints (weights + optimiser + momentum encoder, ~350 MB
    # for ResNet-18) would fill a disk over a 100-run study
    shutil.rmtree(folder / "checkpoints", ignore_errors=True)
    return {
        **_summary(result),
        "pretrain": {
            "fit_seconds": record["throughput"]["fit_seconds"],
            "pairs_per_second": record["throughput"]["pairs_per_second"],
            **{k: record.get(k) for k in ("steps", "epochs", "pool")},
        },
        "peak": {k: v for k, v in record.items() if k.startswith("peak")},
    }


def _probe_of_cache(
    config: StudyConfig, folder: Path, p: dict[str, Any], encoder: str, weights: str | None = None
) -> dict[str, Any]:
    """A floor's or a reference's probe of the study's cache, at the study's backbone, size and stem (the ImageNet
    encoder: the standard stem, whatever the runs use, as its weights exist for it only)."""
    from xrayssl.evaluate.run_probe import probe

    shared = config.pretrain_config(method=config.methods[0], augs="", seed=0, out="-")
    probe_config = ProbeConfig(
        source=config.cache,
        encoder=encoder,
        backbone=shared.backbone,
        size=shared.size,
        small_stem=shared.small_stem and encoder in ("random", "pixels"),  # starts take their own stem
        weights=weights,
        body_part=p["body_part"],
        label_fractions=config.label_fractions,
        n_boot=config.n_boot,
        out=str(folder / "probe.json"),
    )
    return probe(probe_config)


def _floor(config: StudyConfig, store: Store, folder: Path, p: dict[str, Any], progress: bool) -> dict[str, Any]:
    _quiet()
    result = _probe_of_cache(config, folder, p, p["encoder"])
    return {**_summary(result), "label_fractions": result.get("label_fractions")}


def _reference(config: StudyConfig, store: Store, folder: Path, p: dict[str, Any], progress: bool) -> dict[str, Any]:
    """A frozen-feature reference (ImageNet + logistic regression) at the study's backbone and size. Without
    network and without --imagenet-weights it is recorded as skipped, with the one-line reason: the study and its
    final step go on."""
    _quiet()
    from xrayssl.models.imagenet import WeightsUnavailable
    from xrayssl.study.config import reference_encoder

    name = p["reference"]
    try:
        result = _probe_of_cache(config, folder, p, reference_encoder(name), config.reference_weights_of(name))
    except WeightsUnavailable as exc:  # the study's option (imagenet_weights / reference_weights: in its YAML)
        reason = exc.message("--imagenet-weights" if name == "imagenet" else f"--reference-weights {name}=")
        print(f"reference {p['reference']} skipped: {reason}", file=sys.stderr, flush=True)
        return {"skipped": reason, "test_score": None, "test_score_ci": None, "val_score": None}
    return {**_summary(result), "label_fractions": result.get("label_fractions"), "weights": result.get("weights")}


def _supervised(config: StudyConfig, store: Store, folder: Path, p: dict[str, Any], progress: bool) -> dict[str, Any]:
    _quiet()
    from xrayssl import runs
    from xrayssl.evaluate.supervised_eval import evaluate_supervised
    from xrayssl.train.supervised import train_supervised

    if folder.exists():
        shutil.rmtree(folder)  # early stopping keeps the best epoch in memory: an interrupted run starts over
    cfg = config.supervised_config(
        out=str(folder), label_fraction=p["label_fraction"], seed=p["seed"], body_part=p["body_part"]
    )
    run = train_supervised(cfg, progress_bar=False)
    result = evaluate_supervised(SupervisedEvalConfig(run=str(run), n_boot=config.n_boot))
    record = runs.read_record(folder)
    return {
        **_summary(result),
        "label_fraction": p["label_fraction"],
        "fit_seconds": record["throughput"]["fit_seconds"],
        "peak": {k: v for k, v in record.items() if k.startswith("peak")},
    }


def _finalize(config: StudyConfig, store: Store, folder: Path, p: dict[str, Any], progress: bool) -> dict[str, Any]:
    from xrayssl.study.finalize import finalize

    _quiet()
    return finalize(config, store, progress)


EXECUTORS = {"ssl": _ssl, "floor": _floor, REFERENCE_KIND: _reference, "supervised": _supervised, FINAL_KIND: _finalize}
