"""Config files from others are bounded: no YAML aliases (a few hundred bytes of nested aliases expanded into
gigabytes, and the error message with them), no files beyond a page of settings, errors of bounded length."""

from __future__ import annotations

import pytest

from xrayssl.cli.main import main
from xrayssl.configfile import MAX_CONFIG_BYTES, SHOWN_CHARS, load_config_file
from xrayssl.errors import XraySSLError
from xrayssl.train.config import PretrainConfig


def _laughs(depth: int) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, depth + 1):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [{', '.join([f'*{prev}'] * 9)}]")
    return "\n".join(lines) + f"\naugs: *{chr(ord('a') + depth)}\n"


def test_nested_yaml_aliases_are_refused_in_one_short_line(tmp_path, capsys):
    path = tmp_path / "laughs.yaml"
    path.write_text(_laughs(9))
    assert len(path.read_bytes()) < 1000
    assert main(["pretrain", "--config", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "aliases" in err and len(err) < 300 and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_a_config_file_beyond_its_bound_is_refused(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("# padding\n" * (MAX_CONFIG_BYTES // 10 + 10) + "size: 32\n")
    with pytest.raises(XraySSLError, match="KiB"):
        load_config_file(path, PretrainConfig)


def test_values_in_error_messages_are_cut_to_a_bounded_length(tmp_path):
    path = tmp_path / "long.yaml"
    path.write_text(f'size: "{"x" * 100_000}"\n')
    with pytest.raises(XraySSLError) as info:
        load_config_file(path, PretrainConfig)
    assert "size" in str(info.value) and len(str(info.value)) < len(str(path)) + SHOWN_CHARS + 80


def test_plain_yaml_still_loads(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("size: 32\nepochs: 2\naugs: flip+rotate(10)\n")
    assert load_config_file(path, PretrainConfig) == {"size": 32, "epochs": 2, "augs": "flip+rotate(10)"}
