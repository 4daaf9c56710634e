"""Base and new side by side in one worker: another tree's implementations loaded beside this one's."""

import dataclasses
import shutil
import sys
from pathlib import Path

import pytest
import torch

from bench.plan.cases import Case
from bench.plan.spec import Timing
from bench.worker.side_by_side import load_tree, measure_pair
from implementations import registry

ROOT = Path(__file__).resolve().parent.parent
TINY = Case("lstm.native", "lstm", "native", "cpu", "float32", "training", 2, 4, 8, 8)
QUICK = Timing(min_time_s=0.01, budget_s=0.03, min_samples=3, warmup_calls=1, check=True)


def base_tree(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of this tree's implementations package with one edit: a stand-in for a base revision."""
    tree = tmp_path / "base"
    shutil.copytree(ROOT / "implementations", tree / "implementations", ignore=shutil.ignore_patterns("__pycache__"))
    native = tree / "implementations" / "native.py"
    text = native.read_text()
    assert old in text
    native.write_text(text.replace(old, new))
    return tree


def test_the_base_tree_builds_from_its_own_code_and_this_tree_keeps_its_names(tmp_path):
    ours = sys.modules["implementations.registry"]
    source = load_tree(base_tree(tmp_path, "(cuDNN on CUDA", "(base copy; cuDNN on CUDA"))
    assert sys.modules["implementations.registry"] is ours and source.registry is not ours
    assert source.registry.get("lstm.native").description.startswith("nn.LSTM (base copy;")
    assert registry.get("lstm.native").description.startswith("nn.LSTM (cuDNN")
    assert Path(source.registry.get("lstm.native").build_fn.__code__.co_filename).is_relative_to(tmp_path)
    assert len(source.registry.all()) == len(registry.all())


NEEDS_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on this machine)")


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=NEEDS_CUDA)])
def test_both_sides_are_timed_in_alternating_blocks_and_checked(tmp_path, device):
    source = load_tree(base_tree(tmp_path, "(cuDNN on CUDA", "(base copy; cuDNN on CUDA"))
    case = dataclasses.replace(TINY, device=device)
    rows = measure_pair(case, QUICK, 1, {"base": source, "new": None})
    for side in ("base", "new"):
        row = rows[side]
        assert row["status"] == "ok" and row["paired"] and row["correct"], row
        assert row["n_samples"] >= QUICK.min_samples and row["round_medians_s"] == [row["median_s"]]
        assert "resident_mem_bytes" not in row  # the other side's memory would count in it
    assert rows["base"]["n_samples"] == rows["new"]["n_samples"]  # blocks taken in pairs
    assert rows["base"]["calls_per_sample"] == rows["new"]["calls_per_sample"]
    repeat = measure_pair(case, QUICK, 1, {"base": source, "new": None}, repeat=True, first="new", calls=3)
    assert "correct" not in repeat["new"] and repeat["new"]["status"] == "ok"  # a repeat round only times
    assert repeat["base"]["first_side"] == "new" and repeat["new"]["calls_per_sample"] == 3  # round 1's size


def test_a_side_that_fails_is_its_own_row_and_the_other_is_timed_alone(tmp_path):
    broken = "    module.flatten_parameters()"
    source = load_tree(base_tree(tmp_path, broken, '    raise RuntimeError("broken in the base")'))
    rows = measure_pair(TINY, QUICK, 1, {"base": source, "new": None})
    assert rows["base"]["status"] == "error" and "broken in the base" in rows["base"]["error"]
    assert rows["new"]["status"] == "ok" and rows["new"]["paired"] is False


def test_a_tree_without_the_package_is_a_clear_error(tmp_path):
    with pytest.raises(RuntimeError, match="cannot load"):
        load_tree(tmp_path)
    assert sys.modules["implementations.registry"].get("lstm.native")


def test_plugins_register_into_the_base_registry_too(tmp_path):
    plugin = ROOT / "tests" / "plugins" / "labeled_loop.py"
    source = load_tree(base_tree(tmp_path, "(cuDNN on CUDA", "(base copy; cuDNN on CUDA"), [str(plugin)])
    assert source.registry.get("rnn_tanh.test_labeled_loop").source == f"plugin {plugin}"
    assert sys.modules["implementations.registry"] is registry  # this tree's names given back
