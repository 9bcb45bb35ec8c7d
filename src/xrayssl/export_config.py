"""What ``xrayssl export`` writes: its config, apart from export.py so that building it imports no torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from xrayssl.catalog import MIN_SIZE
from xrayssl.configfile import check_bounds
from xrayssl.errors import XraySSLError

Target = Literal["torchvision", "timm", "onnx"]
TARGETS = get_args(Target)


@dataclass
class ExportConfig:
    run: str = field(metadata={"help": "a run folder (pretraining or supervised)"})
    to: Target = field(default="torchvision", metadata={"help": "target library"})
    out: str = field(
        default="", metadata={"help": "file to write (.safetensors, .pt or .onnx)", "default": "RUN/encoder-TO.EXT"}
    )
    in_chans: int = field(default=3, metadata={"help": "input channels of the torchvision/timm model: 1 or 3"})
    size: int | None = field(
        default=None, metadata={"help": "ONNX: the fixed input side in px", "default": "the run's image size"}
    )
    opset: int = field(default=18, metadata={"help": "ONNX opset version"})
    with_head: bool = field(
        default=False,
        metadata={
            "help": "encoder plus its head (a supervised run's, or the fitted probe of 'xrayssl probe RUN'): ONNX "
            "outputs the task's probabilities; a state dict adds the head as fc.weight/fc.bias"
        },
    )

    def __post_init__(self) -> None:
        if self.to not in TARGETS:
            raise XraySSLError(f"unknown export target '{self.to}'; valid: {', '.join(TARGETS)}")
        if self.in_chans not in (1, 3):
            raise XraySSLError("--in-chans must be 1 or 3")
        if self.to == "torchvision" and self.in_chans != 3:
            raise XraySSLError("torchvision's resnets take 3 channels: use --in-chans 3, or --to timm for 1")
        if self.size is not None and self.size < MIN_SIZE:
            raise XraySSLError(f"--size must be >= {MIN_SIZE}")
        check_bounds(self)  # then anything else out of range (catalog.BOUNDS): NaN, inf, huge
