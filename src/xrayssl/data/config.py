"""The data steps' configs (``xrayssl data inspect|prepare|verify|synth``) and their run functions.

Each config extends the configs of the parts it drives (ProcessConfig, SplitConfig, ReadOptions, SynthConfig),
so that every setting and its default is written once, where it is used; the flags are generated from them.
Building one imports no torch; the run functions import the readers and writers on first use.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from xrayssl.configfile import check_bounds
from xrayssl.data.formats import ReadOptions, format_names
from xrayssl.data.imageio import DEFAULT_MAX_PIXELS
from xrayssl.data.process import MAX_PIXELS_HELP, ProcessConfig
from xrayssl.data.splits import SplitConfig
from xrayssl.data.synthetic import SynthConfig
from xrayssl.errors import XraySSLError

if TYPE_CHECKING:
    from xrayssl.data.cache import PreparedCache
    from xrayssl.data.prepare import PrepareResult

WORKERS = {"help": "worker processes", "default": "all cores"}


def check_label_options(options: ReadOptions) -> None:
    from xrayssl.data.labels import UNCERTAIN
    from xrayssl.tasks import TASK_KINDS

    if options.task is not None and options.task not in TASK_KINDS:
        raise XraySSLError(f"unknown task '{options.task}'; tasks: {', '.join(TASK_KINDS)}")
    if options.uncertain not in UNCERTAIN:
        raise XraySSLError(f"unknown --uncertain policy '{options.uncertain}'; valid: {', '.join(UNCERTAIN)}")


def part(config: Any, cls: type) -> Any:
    """The ``cls`` part of a config that extends ``cls`` (a ProcessConfig out of a PrepareConfig)."""
    return cls(**{f.name: getattr(config, f.name) for f in fields(cls)})


@dataclass(frozen=True, kw_only=True)
class DatasetConfig(ReadOptions, SplitConfig):
    """Reading a dataset and splitting it by patient: what inspecting and preparing share."""

    root: str = field(metadata={"help": "dataset folder, CSV manifest, .npz or DICOM file"})
    format: str = field(default="auto", metadata={"help": f"auto, or one of {', '.join(format_names())}"})
    body_parts: list[str] | None = field(
        default=None,
        metadata={"help": "keep only this body part (repeatable), e.g. --body-part shoulder", "default": "all",
                  "flags": ["--body-part"], "repeat": True},
    )  # fmt: skip
    workers: int | None = field(default=None, metadata=WORKERS)

    def __post_init__(self) -> None:
        SplitConfig.__post_init__(self)
        if self.format != "auto" and self.format not in format_names():
            names = ", ".join(format_names())
            raise XraySSLError(f"unknown dataset format '{self.format}'; valid formats: auto, {names}")
        check_label_options(self)
        if self.normal_classes is not None:  # a list from a flag or a file; the readers keep a tuple
            object.__setattr__(self, "normal_classes", tuple(int(c) for c in self.normal_classes))
        check_bounds(self)  # then anything else out of range (catalog.BOUNDS): NaN, inf, huge

    def read_options(self) -> ReadOptions:
        return part(self, ReadOptions)

    def split(self) -> SplitConfig:
        return part(self, SplitConfig)


@dataclass(frozen=True, kw_only=True)
class InspectConfig(DatasetConfig):
    quick: bool = field(default=False, metadata={"help": "read the layout and labels only; do not decode images"})
    max_pixels: int = field(default=DEFAULT_MAX_PIXELS, metadata={"help": MAX_PIXELS_HELP})


@dataclass(frozen=True, kw_only=True)
class PrepareConfig(ProcessConfig, DatasetConfig):  # in this order the dataset's settings come first
    out: str = field(metadata={"help": "cache folder (created, or updated in place)"})
    verify: bool = field(
        default=False,
        metadata={"help": "also check the digest of the existing images.npy before reusing it (reads it in full)"},
    )
    allow_empty: bool = field(
        default=False, metadata={"help": "write a cache even when no image could be used (otherwise an error)"}
    )

    def __post_init__(self) -> None:
        ProcessConfig.__post_init__(self)
        DatasetConfig.__post_init__(self)
        check_bounds(self)  # then anything else out of range (catalog.BOUNDS): NaN, inf, huge

    def process(self) -> ProcessConfig:
        return part(self, ProcessConfig)


@dataclass(frozen=True)
class VerifyConfig:
    cache: str = field(metadata={"help": "cache folder written by 'xrayssl data prepare'"})


@dataclass(frozen=True, kw_only=True)
class SynthDatasetConfig(SynthConfig):
    """A synthetic dataset written to disk: the radiographs' settings plus where and how."""

    out: str = field(metadata={"help": "folder to write"})
    layout: Literal["csv", "mura"] = field(default="csv", metadata={"help": "csv manifest or a MURA v1.1 tree"})
    workers: int | None = field(default=None, metadata=WORKERS)


def run_inspect(config: InspectConfig, *, quiet: bool = False) -> dict[str, Any]:
    """What a dataset holds (``summarize``'s dict) and every problem in it."""
    from xrayssl.data.inspect import inspect_dataset

    return inspect_dataset(
        config.root, config.format, verify=not config.quick, split=config.split(), body_parts=config.body_parts,
        options=config.read_options(), workers=config.workers, progress=not quiet, max_pixels=config.max_pixels,
    )  # fmt: skip


def run_prepare(config: PrepareConfig, *, quiet: bool = False) -> PrepareResult:
    """The prepared cache (a PrepareResult: ``.cache`` is its folder)."""
    from xrayssl.data.prepare import prepare

    return prepare(
        config.root, config.out, fmt=config.format, process=config.process(), split=config.split(),
        body_parts=config.body_parts, options=config.read_options(), workers=config.workers, progress=not quiet,
        verify=config.verify, allow_empty=config.allow_empty,
    )  # fmt: skip


def run_verify(config: VerifyConfig) -> PreparedCache:
    """The cache, every file checked against its digest (one that does not match raises a one-line error)."""
    from xrayssl.data.cache import PreparedCache

    return PreparedCache(config.cache, verify=True)


def run_synth(config: SynthDatasetConfig) -> Path:
    """The folder of the written dataset."""
    from xrayssl.data.prepare import default_workers
    from xrayssl.data.synthetic import write_dataset

    synth = part(config, SynthConfig)
    return write_dataset(config.out, synth, layout=config.layout, workers=config.workers or default_workers())


def prepare_config(root: str | Path, out: str | Path, **settings: Any) -> PrepareConfig:
    """``xrayssl.prepare(root, out, size=64)``'s keywords as a PrepareConfig (the old ``process=``, ``split=``,
    ``options=`` and ``fmt=`` objects are taken apart into its fields)."""
    for key in ("process", "split", "options"):
        if settings.get(key) is not None:
            settings.update(asdict(settings.pop(key)))
        settings.pop(key, None)
    if "fmt" in settings:
        settings["format"] = settings.pop("fmt")
    return PrepareConfig(root=str(root), out=str(out), **settings)
